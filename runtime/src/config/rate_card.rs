//! The rate card (`[rate_card]`): the prices that turn metered usage (calls,
//! fuel, wall time, model tokens) into a cost.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prices per unit of metered usage, in the operator's currency (all zero
/// by default). A skill usage row's `cost` is `calls × per_call + fuel /
/// 10⁶ × per_million_fuel + wall seconds × per_second`; a model usage row's
/// is its tokens priced by `models."NAME"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateCard {
    /// Price of one call.
    pub per_call: f64,
    /// Price of 10⁶ units of fuel.
    pub per_million_fuel: f64,
    /// Price of one second of wall-clock time.
    pub per_second: f64,
    /// Price of each model's tokens, by model name.
    pub models: BTreeMap<String, ModelPrice>,
}

/// The price of a model's tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPrice {
    /// Price of 1,000 input (prompt) tokens.
    pub input_per_1k: f64,
    /// Price of 1,000 output (completion) tokens.
    pub output_per_1k: f64,
}

impl RateCard {
    /// The price of this much usage.
    pub fn cost(&self, calls: u64, fuel: u64, wall_us: u64) -> f64 {
        calls as f64 * self.per_call
            + fuel as f64 / 1e6 * self.per_million_fuel
            + wall_us as f64 / 1e6 * self.per_second
    }

    /// The price of a model's tokens (zero for a model without a price).
    pub fn token_cost(&self, model: &str, input: u64, output: u64) -> f64 {
        let p = self.models.get(model).copied().unwrap_or_default();
        input as f64 / 1e3 * p.input_per_1k + output as f64 / 1e3 * p.output_per_1k
    }
}
