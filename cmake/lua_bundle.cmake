# sluice_lua_bundle(<target> <symbol> <driver> [<module>...])
#
# Assembles a Lua script: core/lua_helpers.lua, then each module file's part above its
# "-- == standalone" line, then the driver, written to <binary dir>/lua/<driver's name> (runnable
# with `redis-cli --eval` like any script) and embedded into <target> as sluice_embed_text does.
# An algorithm file is its own driver, with no module: the helpers and the file. Redis scripts
# cannot load one another, so sharing the helpers and the algorithms between their own scripts
# and the drivers (core/decide.lua and its kind) happens here, at build time.
function(sluice_lua_bundle target symbol driver)
    set(modules ${ARGN})
    set(helpers ${PROJECT_SOURCE_DIR}/core/lua_helpers.lua)
    get_filename_component(name ${driver} NAME)
    set(output ${CMAKE_CURRENT_BINARY_DIR}/lua/${name})
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/lua)
    string(REPLACE ";" "|" module_arg "${modules}")
    add_custom_command(
        OUTPUT ${output}
        COMMAND ${CMAKE_COMMAND} -DHELPERS=${helpers} -DDRIVER=${driver} -DMODULES=${module_arg}
                -DOUTPUT=${output} -P ${PROJECT_SOURCE_DIR}/cmake/lua_bundle_run.cmake
        DEPENDS ${helpers} ${driver} ${modules} ${PROJECT_SOURCE_DIR}/cmake/lua_bundle_run.cmake
        COMMENT "Assembling ${output}"
        VERBATIM)
    sluice_embed_text(${target} ${symbol} ${output})
endfunction()
