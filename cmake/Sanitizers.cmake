# RS_SANITIZE builds every target with ASan and UBSan; UBSan does not recover,
# so undefined behaviour fails the test that triggered it.
if(RS_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=address,undefined)
endif()
