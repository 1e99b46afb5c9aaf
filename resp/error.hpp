#pragma once

#include <string>
#include <system_error>

namespace sluice::resp {

// The one error enum of the RESP layer. Parser errors are protocol errors: the connection that
// met one closes, because after a malformed byte no later reply can be trusted to line up.
enum class errc {
    // Protocol (parser)
    invalid_type_byte = 1,
    invalid_length,    // negative (other than -1 for RESP2 nulls), non-numeric or absurd
    nesting_too_deep,  // aggregates nested past parser_limits::max_depth
    line_too_long,     // no CRLF within parser_limits::max_line
    missing_crlf,      // a bulk payload not followed by CRLF, or CR not followed by LF
    invalid_integer,
    invalid_double,
    invalid_boolean,
    invalid_verbatim,   // verbatim string without its three-letter format and ':'
    invalid_attribute,  // attribute not followed by a value (e.g. inside nothing)

    // Connection
    not_connected,  // fails fast while the connection is down
    disconnected,   // the connection was lost with the request in flight
    timeout,        // no reply within the request's deadline
    connect_timeout,
    handshake_failed,     // HELLO / AUTH / SELECT answered with an error
    stopped,              // the connection was stopped by its owner
    script_load_failed,   // NOSCRIPT, then SCRIPT LOAD failed
    unexpected_reply,     // a reply with no request waiting for it: the stream is out of step
    health_check_failed,  // the health check's PING went unanswered

    // Configuration
    invalid_url,
    unsupported_scheme,  // rediss:// (TLS) and anything but redis://

    // Cluster topology (a CLUSTER SHARDS or CLUSTER SLOTS reply that cannot be trusted)
    topology_error_reply,    // the node answered with an error (cluster support disabled, ...)
    topology_not_array,      // the reply is not an array of shards or slot ranges
    topology_bad_shape,      // an element of the wrong type or count where the format has another
    topology_empty,          // no shard or slot range at all
    topology_bad_slot,       // a slot that is not a number in 0..16383, start > end, an odd list
    topology_slot_conflict,  // two shards (or ranges) claim the same slot
    topology_no_primary,     // a shard that owns slots lists no primary
    topology_bad_port,       // a node's port missing, not a number, or not in 1..65535
    topology_incomplete,     // the reply ended before all of it was delivered

    // Sentinel
    retargeted,               // the connection was pointed at another server (a failover)
    not_primary,              // ROLE: the server is a replica, not the primary asked for
    sentinel_unknown_master,  // GET-MASTER-ADDR-BY-NAME: no primary of that name is monitored
    sentinel_error_reply,     // the Sentinel answered with an error
    sentinel_bad_reply,       // the reply is not [host, port] with a port in 1..65535

    // Cluster requests
    cluster_unavailable,  // until the deadline, no primary served the slot (CLUSTERDOWN, or the
                          // slot is in no shard of the topology)
};

const std::error_category& resp_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), resp_category()};
}

// True for errors raised by the parser: the connection must be closed.
constexpr bool is_protocol_error(errc e) noexcept {
    return e >= errc::invalid_type_byte && e <= errc::invalid_attribute;
}

}  // namespace sluice::resp

template <>
struct std::is_error_code_enum<sluice::resp::errc> : std::true_type {};
