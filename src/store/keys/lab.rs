//! The insecure lab key: a published key, for labs and demos without a key file.

/// The key used with `insecure = true`: the 32 ASCII bytes `wakeproxy-INSECURE-PUBLIC-labkey`.
///
/// It is published here, so it authenticates nothing: anyone can forge messages signed with it.
/// It exists so that a lab or a demo can run without distributing a key file. Never use it on
/// a network you care about; `wakeproxy status` says loudly when a node runs with it.
pub const INSECURE_LAB_KEY: &[u8] = &LAB_KEY;

const LAB_KEY: [u8; 32] = *b"wakeproxy-INSECURE-PUBLIC-labkey";
