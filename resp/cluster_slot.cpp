#include "resp/cluster_slot.hpp"

namespace sluice::resp {

// The routing of every key rests on these functions: a wrong table would send each request to a
// node that answers MOVED. Checked when the library is compiled, against the specification's own
// example and values a real Redis gave for CLUSTER KEYSLOT.
static_assert(crc16("123456789") == 0x31C3);
static_assert(crc16("") == 0);
static_assert(key_slot("foo") == 12182);
static_assert(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
static_assert(key_slot("foo{}{bar}") == 8363);

}  // namespace sluice::resp
