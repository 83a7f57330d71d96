# Writes OUT, a header defining PAGODA_BUILD_COMMIT as `git describe --always --dirty --abbrev=7` of SOURCE_DIR
# ("" outside a git checkout). Run at every build by the pagoda_build_commit target; the header is rewritten only when
# the commit changes, so only what includes it recompiles.
execute_process(COMMAND git describe --always --dirty --abbrev=7 WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  set(commit "")
endif()
file(WRITE ${OUT}.new "#pragma once\n#define PAGODA_BUILD_COMMIT \"${commit}\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.new ${OUT})
file(REMOVE ${OUT}.new)
