# Script mode helper of sluice_lua_bundle: writes OUTPUT from HELPERS, MODULES ("|"-separated, may
# be empty) and DRIVER.
set(marker "\n-- == standalone")
string(REPLACE "|" ";" modules "${MODULES}")
get_filename_component(driver_name ${DRIVER} NAME)
file(READ ${DRIVER} driver)
# A shebang line (script flags such as no-writes) must stay the script's first line.
set(shebang "")
string(FIND "${driver}" "#!" shebang_at)
if(shebang_at EQUAL 0)
    string(FIND "${driver}" "\n" eol)
    math(EXPR eol "${eol} + 1")
    string(SUBSTRING "${driver}" 0 ${eol} shebang)
    string(SUBSTRING "${driver}" ${eol} -1 driver)
endif()
set(text "${shebang}-- ${driver_name} assembled by the build: the helpers, the algorithm modules, the driver.\n")
file(READ ${HELPERS} helpers)
string(APPEND text "\n-- ==== from lua_helpers.lua ====\n\n${helpers}\n")
# Each module is wrapped in a function that builds it, and `modules` (algorithm name -> module)
# builds one when a script call first names it: the script's body runs on every call, so a batch
# of sliding-log checks does not also make the closures of three other algorithms each time.
set(loaders "")
foreach(module ${modules})
    file(READ ${module} content)
    string(FIND "${content}" "${marker}" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "${module} has no line starting with \"-- == standalone\"")
    endif()
    string(SUBSTRING "${content}" 0 ${at} library)
    get_filename_component(module_name ${module} NAME)
    get_filename_component(table ${module} NAME_WE)  # sliding_log.lua declares `local sliding_log`
    string(REPLACE "_" "-" algorithm ${table})
    string(APPEND text "\n-- ==== from ${module_name} ====\n\nlocal function build_${table}()\n${library}\nreturn ${table}\nend\n")
    string(APPEND loaders "    ['${algorithm}'] = build_${table},\n")
endforeach()
if(modules)
    string(APPEND text "
-- The algorithms by the name a rule gives, each built on first use in a call.
local modules = setmetatable({}, {__index = function(built, name)
    local build = ({
${loaders}    })[name]
    if build == nil then
        return nil
    end
    local module = build()
    built[name] = module
    return module
end})
")
endif()
string(APPEND text "\n-- ==== from ${driver_name} ====\n\n${driver}")
file(WRITE ${OUTPUT}.tmp "${text}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
