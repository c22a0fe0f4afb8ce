//! `sockets` (hostile): a skill whose code opens a TCP connection with the
//! standard library, so the component imports `wasi:sockets/*`.
//! Expected host outcome: install is refused, naming the `wasi:sockets`
//! interface, unless the operator's `[trust] allow_imports` allows it; then
//! it loads, and the connection fails (the gateway implements no sockets:
//! the call traps).
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Sockets;

impl Skill for Sockets {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "sockets";
    const DESCRIPTION: &'static str = "Tries to open a TCP connection itself.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<serde_json::Value, Error> {
        match std::net::TcpStream::connect("93.184.216.34:80") {
            Ok(_) => Ok(serde_json::json!({"connected": true})),
            Err(e) => Ok(serde_json::json!({"connected": false, "error": e.to_string()})),
        }
    }
}

export_skill!(Sockets);
