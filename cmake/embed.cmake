# sluice_embed_text(<target> <symbol> <file>)
#
# Embeds a text file (a Lua script) into <target> as `extern const std::string_view <symbol>`,
# declared in the generated header <symbol>.hpp. The script stays a file of its own so it can be
# read, linted and run with `redis-cli --eval`.
function(sluice_embed_text target symbol file)
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/embedded)
    set(header ${out_dir}/${symbol}.hpp)
    set(source ${out_dir}/${symbol}.cpp)
    add_custom_command(
        OUTPUT ${header} ${source}
        COMMAND ${CMAKE_COMMAND} -DSYMBOL=${symbol} -DINPUT=${file} -DHEADER=${header}
                -DSOURCE=${source} -P ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
        DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
        COMMENT "Embedding ${file}")
    target_sources(${target} PRIVATE ${source})
    target_include_directories(${target} PUBLIC ${out_dir})
endfunction()
