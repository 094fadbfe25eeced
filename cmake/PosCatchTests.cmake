# pos_catch_tests(TARGET [TIMEOUT SECONDS]): registers each Catch2 test case of TARGET as one
# ctest entry named exactly after it, whatever characters the name holds. Catch2's own
# catch_discover_tests splits a name at ';' (a CMake list separator) into entries that select
# nothing; this one never goes through a CMake list. Every entry runs with `--warn NoTests`, so
# an entry that selects no test case fails instead of passing silently, and
# scripts/audit-tests.py checks after the build that entries and test cases match one to one.
set(_POS_CATCH_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/PosCatchAddTests.cmake")

function(pos_catch_tests target)
  cmake_parse_arguments(arg "" "TIMEOUT" "" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 1500)
  endif()
  set(tests_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_catch_tests.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_catch_include.cmake")
  add_custom_command(
    TARGET ${target} POST_BUILD
    BYPRODUCTS "${tests_file}"
    COMMAND "${CMAKE_COMMAND}" -D "EXECUTABLE=$<TARGET_FILE:${target}>"
            -D "WORKING_DIR=${CMAKE_CURRENT_BINARY_DIR}" -D "TIMEOUT=${arg_TIMEOUT}"
            -D "OUTPUT=${tests_file}" -P "${_POS_CATCH_SCRIPT}"
    VERBATIM)
  # Before the first build there is no list: one entry that fails says so.
  file(WRITE "${include_file}"
       "if(EXISTS \"${tests_file}\")\n"
       "  include(\"${tests_file}\")\n"
       "else()\n"
       "  add_test(${target}_not_built ${target}_not_built)\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
