# cddp_strict(<target>): the warnings we hold our own code to. Generated code
# (protobuf/gRPC) is compiled without it.
function(cddp_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()
