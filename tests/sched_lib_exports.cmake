# Fails when libcmscheduler.so exports a dynamic symbol other than cm_scheduler_* or the
# generated code of the two installed message headers, mesos.pb-c.h and scheduler.pb-c.h (the
# boundary promised in include/cmesos/scheduler.h). Internal messages (the agent link, the
# executor and registry protos) and src/common must stay hidden.
execute_process(COMMAND nm -D --defined-only ${LIB} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D ${LIB} failed")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(functions 0)
foreach(line ${lines})
  string(REGEX REPLACE "^[0-9a-fA-F]* *[A-Za-z] " "" sym "${line}")
  if(sym STREQUAL "")
    continue()
  endif()
  if(sym MATCHES "^cm_scheduler_")
    math(EXPR functions "${functions} + 1")
  elseif(sym MATCHES "^mesos__v1__(executor|master|agent)__" OR sym MATCHES "^cmesos__"
         OR NOT sym MATCHES "^mesos__v1__")
    message(FATAL_ERROR "libcmscheduler exports '${sym}'")
  endif()
endforeach()
if(functions LESS 20)
  message(FATAL_ERROR "only ${functions} cm_scheduler_* functions exported")
endif()
message(STATUS "${functions} cm_scheduler_* functions exported, nothing else but the public messages")
