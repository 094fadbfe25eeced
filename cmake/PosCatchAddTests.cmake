# Run by pos_catch_tests after each build of a Catch2 binary: lists its test cases and writes
# one add_test per case. Names travel only as bracket arguments, never as CMake lists, so ';',
# '[' and ']' in a name survive. The test spec escapes every character Catch2's spec parser
# treats specially, so the spec selects exactly the case of that name.
execute_process(
  COMMAND "${EXECUTABLE}" --list-test-names-only
  OUTPUT_VARIABLE listing
  RESULT_VARIABLE result
  WORKING_DIRECTORY "${WORKING_DIR}")
if(NOT result MATCHES "^[0-9]+$")
  message(FATAL_ERROR "${EXECUTABLE} --list-test-names-only failed: ${result}")
endif()

# Split the listing into lines without a CMake list: walk it by position.
set(script "")
set(count 0)
string(LENGTH "${listing}" remaining)
while(remaining GREATER 0)
  string(FIND "${listing}" "\n" end)
  if(end EQUAL -1)
    set(line "${listing}")
    set(listing "")
  else()
    string(SUBSTRING "${listing}" 0 ${end} line)
    math(EXPR next "${end} + 1")
    string(SUBSTRING "${listing}" ${next} -1 listing)
  endif()
  string(LENGTH "${listing}" remaining)
  string(REGEX REPLACE "\r$" "" line "${line}")
  if(line STREQUAL "")
    continue()
  endif()
  if(line MATCHES "]==]")
    message(FATAL_ERROR "test case name \"${line}\" holds \"]==]\", which ctest files cannot quote")
  endif()
  # Catch2 v2's spec parser: '\' escapes, ',' separates, '[' opens a tag, '"' quotes and '~'
  # at the start negates. A '*' at either end, "exclude:" at the start and blanks at either end
  # cannot be escaped: such a name could not select exactly its own case.
  # And Catch2 lists a name that starts with '#' in quotes.
  if(line MATCHES "^[*# \t]|[* \t]$|^exclude:")
    message(FATAL_ERROR "test case \"${line}\": a name may not start with \"exclude:\" or '#', "
                        "nor start or end with '*' or a blank (Catch2 cannot select it exactly)")
  endif()
  set(spec "${line}")
  foreach(char "\\" "," "[" "]" "\"" "~")
    string(REPLACE "${char}" "\\${char}" spec "${spec}")
  endforeach()
  string(APPEND script
         "add_test([==[${line}]==] [==[${EXECUTABLE}]==] [==[${spec}]==] --warn NoTests)\n"
         "set_tests_properties([==[${line}]==] PROPERTIES WORKING_DIRECTORY [==[${WORKING_DIR}]==]"
         " TIMEOUT ${TIMEOUT})\n")
  math(EXPR count "${count} + 1")
endwhile()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXECUTABLE} lists no test case")
endif()
file(WRITE "${OUTPUT}" "${script}")
