# Installs the service files (run by `cmake --install` and by CPack through install(SCRIPT)).
# Paths are decided at install time, from the prefix being installed to: with /usr (the
# Debian package) the configuration goes to /etc, as GNUInstallDirs does for that prefix;
# with any other prefix to <prefix>/etc. The units run the wrapper from <prefix>/<sbindir>.
# Expects CMESOS_PACKAGING_DIR, CMESOS_SBINDIR (relative), CMESOS_BINARY_DIR to be set.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_etc "/etc")
else()
  set(_etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(CMESOS_WRAPPER "${CMAKE_INSTALL_PREFIX}/${CMESOS_SBINDIR}/mesos-init-wrapper")
foreach(unit mesos-master.service mesos-agent.service)
  configure_file(${CMESOS_PACKAGING_DIR}/systemd/${unit}.in
                 ${CMESOS_BINARY_DIR}/packaging/systemd/${unit} @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES ${CMESOS_BINARY_DIR}/packaging/systemd/${unit})
endforeach()
file(INSTALL DESTINATION "${_etc}/default" TYPE FILE
     FILES ${CMESOS_PACKAGING_DIR}/etc/default/mesos ${CMESOS_PACKAGING_DIR}/etc/default/mesos-master
           ${CMESOS_PACKAGING_DIR}/etc/default/mesos-agent)
file(INSTALL DESTINATION "${_etc}/mesos" TYPE FILE FILES ${CMESOS_PACKAGING_DIR}/etc/mesos/zk)
file(INSTALL DESTINATION "${_etc}/mesos-master" TYPE FILE
     FILES ${CMESOS_PACKAGING_DIR}/etc/mesos-master/quorum
           ${CMESOS_PACKAGING_DIR}/etc/mesos-master/README)
file(INSTALL DESTINATION "${_etc}/mesos-agent" TYPE FILE
     FILES ${CMESOS_PACKAGING_DIR}/etc/mesos-agent/README)
