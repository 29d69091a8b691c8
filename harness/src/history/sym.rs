//! [`Sym`]: a shared, immutable string for the names a history repeats on
//! every operation (client, region, operation, key, detail).
//!
//! A history of a million operations names a handful of regions and clients
//! a million times each; as `String`s every one is its own allocation. A
//! `Sym` is a reference-counted `str`: cloning it, or reading a history
//! through [`Interner`], shares one allocation among all equal names. It reads
//! like a string (`Deref<Target = str>`, `==` with `str`/`&str`/`String`,
//! `From<&str>`/`From<String>`) and is written to JSON as one.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A shared immutable string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(Arc<str>);

impl Sym {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Sym {
    fn default() -> Self {
        Sym::from("")
    }
}

impl Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Self {
        Sym(Arc::from(s.as_str()))
    }
}

impl From<Arc<str>> for Sym {
    fn from(s: Arc<str>) -> Self {
        Sym(s)
    }
}

impl From<Sym> for String {
    fn from(s: Sym) -> Self {
        s.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sym {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Sym> for str {
    fn eq(&self, other: &Sym) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Sym> for &str {
    fn eq(&self, other: &Sym) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Sym> for String {
    fn eq(&self, other: &Sym) -> bool {
        self.as_str() == &*other.0
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Borrowed when the input allows, so an interned name costs no
        // allocation of its own.
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Sym::from(text.as_ref()))
    }
}

/// Hands out one [`Sym`] per distinct text: equal names share an allocation.
#[derive(Debug, Default)]
pub struct Interner {
    seen: HashSet<Sym>,
}

impl Interner {
    /// The shared `Sym` equal to `sym` (`sym` itself the first time).
    pub fn intern(&mut self, sym: Sym) -> Sym {
        if let Some(known) = self.seen.get(sym.as_str()) {
            return known.clone();
        }
        self.seen.insert(sym.clone());
        sym
    }

    /// Distinct texts seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sym_reads_and_compares_like_a_string_and_interning_shares_it() {
        let a = Sym::from("us-east");
        assert_eq!(a, "us-east");
        assert_eq!(a, String::from("us-east"));
        assert_eq!(a.len(), 7);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"us-east\"");
        let back: Sym = serde_json::from_str("\"us-east\"").unwrap();
        let mut interner = Interner::default();
        let first = interner.intern(a);
        let second = interner.intern(back);
        assert!(Arc::ptr_eq(&first.0, &second.0));
        assert_eq!(interner.len(), 1);
    }
}
