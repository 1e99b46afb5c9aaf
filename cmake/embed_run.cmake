# Script mode helper of sluice_embed_text: writes the header and the source.
file(READ ${INPUT} content HEX)
string(LENGTH "${content}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE ${HEADER} "#pragma once\n#include <string_view>\nextern const std::string_view ${SYMBOL};\n")
file(WRITE ${SOURCE} "#include \"${SYMBOL}.hpp\"\nstatic const char ${SYMBOL}_data[] = {${bytes} 0};\nconst std::string_view ${SYMBOL}{${SYMBOL}_data, ${size}};\n")
