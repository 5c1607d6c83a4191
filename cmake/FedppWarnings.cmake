# Flags for fedpp's own targets (tests, examples, benchmarks): warnings, -Werror, sanitizers.
include_guard(GLOBAL)

add_library(fedpp_project_options INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(fedpp_project_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                         -Wno-sign-conversion)
  if(FEDPP_WARNINGS_AS_ERRORS)
    target_compile_options(fedpp_project_options INTERFACE -Werror)
  endif()
  if(FEDPP_SANITIZE)
    target_compile_options(fedpp_project_options INTERFACE -fsanitize=${FEDPP_SANITIZE} -fno-omit-frame-pointer
                                                           -fno-sanitize-recover=all)
    target_link_options(fedpp_project_options INTERFACE -fsanitize=${FEDPP_SANITIZE})
  endif()
endif()

# fedpp_target(<target>): the project's own executables link this.
function(fedpp_target target)
  target_link_libraries(${target} PRIVATE fedpp::fedpp fedpp_project_options)
endfunction()
