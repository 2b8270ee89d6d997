# Fails when libcmexecutor.so exports a dynamic symbol other than cm_exec_* or the generated
# code of the two installed message headers, mesos.pb-c.h and executor.pb-c.h (the boundary
# promised in include/cmesos/executor.h). The internal hooks (exec_internal.h), src/common and
# the other messages (agent link, scheduler, master) must stay hidden.
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
  if(sym MATCHES "^cm_exec_(set_send_hook|set_clock|handle_event|pack_subscribe|set_resend_delay)$")
    message(FATAL_ERROR "libcmexecutor exports the internal '${sym}'")
  elseif(sym MATCHES "^cm_exec_")
    math(EXPR functions "${functions} + 1")
  elseif(sym MATCHES "^mesos__v1__(scheduler|master|agent)__" OR sym MATCHES "^cmesos__"
         OR NOT sym MATCHES "^mesos__v1__")
    message(FATAL_ERROR "libcmexecutor exports '${sym}'")
  endif()
endforeach()
if(functions LESS 17)
  message(FATAL_ERROR "only ${functions} cm_exec_* functions exported")
endif()
message(STATUS "${functions} cm_exec_* functions exported, nothing else but the public messages")
