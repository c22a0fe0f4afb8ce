//! `notify`: sends a message to one of the tenant's contacts through the
//! `messaging` capability, and reports delivery state.
//!
//! - `{"contact": NAME, "text": TEXT}` → `{"message_id": ID}`
//! - `{"status": ID}` → `{"state": "pending"|"delivered"|"dead"}`
//! - `{}` → `{"contacts": [NAME, …]}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::messaging::{self, DeliveryState};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Send { contact: String, text: String },
    Status { status: String },
    Contacts {},
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Sent { message_id: String },
    State { state: &'static str },
    Contacts { contacts: Vec<String> },
}

struct Notify;

impl Skill for Notify {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "notify";
    const DESCRIPTION: &'static str = "Sends a text message to one of the tenant's contacts.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": { "contact": { "type": "string" }, "text": { "type": "string" } },
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        Ok(match input {
            Input::Send { contact, text } => Output::Sent { message_id: messaging::send(&contact, &text)? },
            Input::Status { status } => Output::State {
                state: match messaging::status(&status)? {
                    DeliveryState::Pending => "pending",
                    DeliveryState::Delivered => "delivered",
                    DeliveryState::Dead => "dead",
                },
            },
            Input::Contacts {} => Output::Contacts { contacts: messaging::contacts()? },
        })
    }
}

export_skill!(Notify);
