//! A JSON value usable as a hash-map key, hashed consistently with `Value`'s
//! own equality, so checkers can index writes by value instead of scanning.

use std::hash::{Hash, Hasher};

use serde_json::Value;

/// A borrowed [`Value`] that hashes the way `==` compares: object keys in
/// order (serde_json's maps are sorted), numbers by their kind and value
/// (`1` and `1.0` differ, as they do under `==`; `0.0` and `-0.0` are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueKey<'a>(pub(crate) &'a Value);

impl Hash for ValueKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_value(self.0, state);
    }
}

fn hash_value<H: Hasher>(value: &Value, state: &mut H) {
    match value {
        Value::Null => state.write_u8(0),
        Value::Bool(b) => {
            state.write_u8(1);
            b.hash(state);
        }
        Value::Number(n) => {
            state.write_u8(2);
            if let Some(u) = n.as_u64() {
                state.write_u8(0);
                u.hash(state);
            } else if let Some(i) = n.as_i64() {
                state.write_u8(1);
                i.hash(state);
            } else if let Some(f) = n.as_f64() {
                state.write_u8(2);
                // 0.0 == -0.0 under `==`, so they must hash alike.
                let f = if f == 0.0 { 0.0 } else { f };
                f.to_bits().hash(state);
            }
        }
        Value::String(s) => {
            state.write_u8(3);
            s.hash(state);
        }
        Value::Array(items) => {
            state.write_u8(4);
            state.write_usize(items.len());
            for item in items {
                hash_value(item, state);
            }
        }
        Value::Object(map) => {
            state.write_u8(5);
            state.write_usize(map.len());
            for (k, v) in map {
                k.hash(state);
                hash_value(v, state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use serde_json::json;

    use super::*;

    fn hash_of(value: &Value) -> u64 {
        let mut hasher = DefaultHasher::new();
        ValueKey(value).hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn equal_values_hash_alike_and_different_ones_differ() {
        assert_eq!(
            hash_of(&json!({"a": 1, "b": [1, "x"]})),
            hash_of(&json!({"b": [1, "x"], "a": 1}))
        );
        assert_eq!(hash_of(&json!(0.0)), hash_of(&json!(-0.0)));
        assert_eq!(json!(0.0), json!(-0.0));
        assert_ne!(hash_of(&json!(1)), hash_of(&json!("1")));
        assert_ne!(json!(1), json!(1.0));
        assert_ne!(hash_of(&json!([1, 2])), hash_of(&json!([2, 1])));
    }
}
