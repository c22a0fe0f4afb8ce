//! `weather`: calls a weather API with an API key it never sees: the key is
//! the tenant's secret `WEATHER_API_KEY`, injected by the host into the
//! `x-api-key` header through a placeholder.
//!
//! `{"city": C, "endpoint"?: BASE}` → the API's JSON answer.
use serde::Deserialize;
use wasmclaw_sdk::{Error, Skill, export_skill, http, secrets};

/// The API the manifest asks for; tests point `endpoint` at a local server.
const DEFAULT_ENDPOINT: &str = "https://api.weather.example";

#[derive(Deserialize)]
struct Input {
    city: String,
    endpoint: Option<String>,
}

struct Weather;

impl Skill for Weather {
    type Input = Input;
    type Output = serde_json::Value;
    const NAME: &'static str = "weather";
    const DESCRIPTION: &'static str = "Current weather for a city.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "required": ["city"],
            "properties": { "city": { "type": "string" } },
        })
    }

    fn run(input: Input) -> Result<serde_json::Value, Error> {
        if !input.city.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
            return Err(Error::invalid("city: letters, digits, spaces and dashes only"));
        }
        let base = input.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let url = format!("{base}/weather?city={}", input.city.replace(' ', "%20"));
        let key = secrets::placeholder("WEATHER_API_KEY");
        let resp = http::get(&url, &[("x-api-key", &key)])?;
        if resp.status != 200 {
            return Err(Error::failed(format!("the weather API answered {}", resp.status)));
        }
        serde_json::from_slice(&resp.body)
            .map_err(|e| Error::failed(format!("the weather API's answer: {e}")))
    }
}

export_skill!(Weather);
