# Finds the ZooKeeper C client, multi-threaded flavour (Debian: libzookeeper-mt-dev), and
# defines the imported target ZooKeeper::MT. GLOBAL so that every directory that links
# cm_common resolves it, wherever this file was included first; the guard makes including it
# twice (top level and src/common) harmless.
if(NOT TARGET ZooKeeper::MT)
  find_path(ZOOKEEPER_INCLUDE_DIR zookeeper/zookeeper.h)
  find_library(ZOOKEEPER_LIBRARY zookeeper_mt)
  if(NOT ZOOKEEPER_INCLUDE_DIR OR NOT ZOOKEEPER_LIBRARY)
    message(FATAL_ERROR "ZooKeeper C client not found (zookeeper/zookeeper.h, libzookeeper_mt): "
                        "install libzookeeper-mt-dev (scripts/deps.sh)")
  endif()
  add_library(ZooKeeper::MT INTERFACE IMPORTED GLOBAL)
  set_target_properties(ZooKeeper::MT PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ZOOKEEPER_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${ZOOKEEPER_LIBRARY};Threads::Threads")
  message(STATUS "ZooKeeper C client: ${ZOOKEEPER_LIBRARY}")
endif()
