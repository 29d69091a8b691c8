//! Per-operation placeholders in workload requests, keys and values, so each
//! operation can write something unique (a lost write is only visible if it
//! differs from the others):
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{seq}` | this workload's operation number in this region, from 1 |
//! | `{id}` | the operation's id in the history (unique in the run) |
//! | `{region}` | the region the client sends to |
//! | `{client}` | the client's name |
//!
//! Anything else in braces is left as it is.

use serde_json::Value;

/// The values of the placeholders for one operation.
#[derive(Debug, Clone)]
pub struct OpVars<'a> {
    /// Per-workload, per-region sequence number.
    pub seq: u64,
    /// History id.
    pub id: u64,
    /// Target region.
    pub region: &'a str,
    /// Client name.
    pub client: &'a str,
}

impl OpVars<'_> {
    /// `text` with the placeholders replaced.
    pub fn render(&self, text: &str) -> String {
        if !text.contains('{') {
            return text.to_owned();
        }
        text.replace("{seq}", &self.seq.to_string())
            .replace("{id}", &self.id.to_string())
            .replace("{region}", self.region)
            .replace("{client}", self.client)
    }

    /// `value` with the placeholders replaced in every string inside it.
    pub fn render_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.render(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.render_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.render_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_replaced_inside_nested_values() {
        let vars = OpVars {
            seq: 7,
            id: 42,
            region: "eu-west",
            client: "put-eu-west",
        };
        assert_eq!(vars.render("/kv/k{seq}"), "/kv/k7");
        assert_eq!(
            vars.render_value(&json!({"v": ["{region}-{id}", 1], "c": "{client}", "x": "{other}"})),
            json!({"v": ["eu-west-42", 1], "c": "put-eu-west", "x": "{other}"})
        );
    }
}
