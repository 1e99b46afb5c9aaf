#include "resp/script.hpp"

#include "resp/sha1.hpp"

namespace sluice::resp {

script::script(std::string source) : source_{std::move(source)}, sha_{sha1_hex(source_)} {}

}  // namespace sluice::resp
