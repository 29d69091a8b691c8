//! The import graph of one crate's sources: which file names an item of which
//! other file, found from `use` declarations and the paths written in code
//! (macro bodies included, as tokens), with re-exports followed to the file
//! that defines the item.
//!
//! Rules (so the graph says "this file needs that file", and nothing else):
//! - `#[cfg(test)]` items and files are left out: tests may look upward.
//! - A file may use the hub of a module it is inside (`x/y.rs` naming an
//!   item of `x/mod.rs`, or of `x.rs`): that is Rust's shape for a module
//!   whose root holds the dispatching enum and the shared types its files
//!   implement (STYLE.md's `fault/mod.rs`). Every other edge counts, the
//!   hub's own edges to its files included.
//! - Declaring `mod x;` is not an edge, and neither is a `pub use` of a
//!   descendant's item that the re-exporting file does not use itself: a
//!   module's facade belongs to the files it re-exports.
//! - A `use` naming a module is not an edge by itself; each path through it is
//!   (`use crate::check; check::sli::x` depends on `check/sli.rs`).
//! - A path that leaves the crate (std, tokio, another faultline crate) is
//!   not an edge.
//!
//! Limits: `#[path]` attributes are refused; a macro's own expansion is not
//! followed (only the paths written in its arguments).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;

/// One module of the crate.
#[derive(Debug, Default)]
struct Module {
    /// The file the module's items are written in (relative to `src/`).
    file: String,
    /// Child modules, by name.
    children: BTreeSet<String>,
    /// Names of items defined here (types, functions, constants, macros...).
    items: BTreeSet<String>,
    /// `use` declarations: the name they bind (None for a glob) and the path.
    imports: Vec<Import>,
    /// Token streams of every non-`use`, non-`mod` item, scanned for paths.
    code: Vec<TokenStream>,
}

#[derive(Debug, Clone)]
struct Import {
    name: Option<String>,
    path: Vec<String>,
    public: bool,
    text: String,
}

/// The crate's module tree, keyed by module path (`[]` is the crate root).
pub struct Crate {
    modules: BTreeMap<Vec<String>, Module>,
}

/// Directed edges between files, each with the first path that made it.
pub type Edges = BTreeMap<(String, String), String>;

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("cfg") {
            return false;
        }
        let text = attr.meta.to_token_stream().to_string();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .collect();
        words.contains(&"test") && !words.contains(&"not")
    })
}

fn has_path_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident("path"))
}

fn flatten_use(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Option<String>, Vec<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.last().cloned(), prefix.clone()));
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((Some(name), path));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            let original = r.ident.to_string();
            if original != "self" {
                path.push(original);
            }
            out.push((Some(r.rename.to_string()), path));
        }
        syn::UseTree::Glob(_) => out.push((None, prefix.clone())),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten_use(tree, prefix, out);
            }
        }
    }
}

/// `use` declarations nested in function bodies, treated as the module's.
struct NestedUses<'a>(&'a mut Vec<syn::ItemUse>);

impl<'ast> syn::visit::Visit<'ast> for NestedUses<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !is_cfg_test(&item.attrs) {
            self.0.push(item.clone());
        }
    }
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}
}

impl Crate {
    /// Reads the module tree rooted at `root` (e.g. `lib.rs`) from `files`
    /// (path relative to `src/` → source text).
    ///
    /// # Errors
    /// A file that does not parse, a declared module without its file, or a
    /// `#[path]` attribute.
    pub fn parse(files: &BTreeMap<String, String>, root: &str) -> Result<Self, String> {
        let mut krate = Crate {
            modules: BTreeMap::new(),
        };
        krate.load_file(files, root, Vec::new())?;
        Ok(krate)
    }

    fn load_file(
        &mut self,
        files: &BTreeMap<String, String>,
        file: &str,
        path: Vec<String>,
    ) -> Result<(), String> {
        let text = files
            .get(file)
            .ok_or_else(|| format!("module {} has no file {file}", path.join("::")))?;
        let parsed = syn::parse_file(text).map_err(|err| format!("{file}: {err}"))?;
        self.load_items(files, file, path, &parsed.items)
    }

    fn load_items(
        &mut self,
        files: &BTreeMap<String, String>,
        file: &str,
        path: Vec<String>,
        items: &[syn::Item],
    ) -> Result<(), String> {
        let mut module = Module {
            file: file.to_owned(),
            ..Module::default()
        };
        let mut uses = Vec::new();
        let mut children = Vec::new();
        for item in items {
            let attrs: &[syn::Attribute] = match item {
                syn::Item::Const(i) => &i.attrs,
                syn::Item::Enum(i) => &i.attrs,
                syn::Item::Fn(i) => &i.attrs,
                syn::Item::Impl(i) => &i.attrs,
                syn::Item::Macro(i) => &i.attrs,
                syn::Item::Mod(i) => &i.attrs,
                syn::Item::Static(i) => &i.attrs,
                syn::Item::Struct(i) => &i.attrs,
                syn::Item::Trait(i) => &i.attrs,
                syn::Item::Type(i) => &i.attrs,
                syn::Item::Union(i) => &i.attrs,
                syn::Item::Use(i) => &i.attrs,
                _ => &[],
            };
            if is_cfg_test(attrs) {
                continue;
            }
            match item {
                syn::Item::Use(u) => uses.push(u.clone()),
                syn::Item::Mod(m) => {
                    if has_path_attr(&m.attrs) {
                        return Err(format!(
                            "{file}: #[path] on mod {} is not supported",
                            m.ident
                        ));
                    }
                    module.children.insert(m.ident.to_string());
                    children.push(m.clone());
                }
                other => {
                    let ident = match other {
                        syn::Item::Const(i) => Some(&i.ident),
                        syn::Item::Enum(i) => Some(&i.ident),
                        syn::Item::Fn(i) => Some(&i.sig.ident),
                        syn::Item::Macro(i) => i.ident.as_ref(),
                        syn::Item::Static(i) => Some(&i.ident),
                        syn::Item::Struct(i) => Some(&i.ident),
                        syn::Item::Trait(i) => Some(&i.ident),
                        syn::Item::Type(i) => Some(&i.ident),
                        syn::Item::Union(i) => Some(&i.ident),
                        _ => None,
                    };
                    if let Some(ident) = ident {
                        module.items.insert(ident.to_string());
                    }
                    syn::visit::Visit::visit_item(&mut NestedUses(&mut uses), other);
                    module.code.push(other.to_token_stream());
                }
            }
        }
        for u in &uses {
            let public = !matches!(u.vis, syn::Visibility::Inherited);
            let mut flat = Vec::new();
            let mut prefix = Vec::new();
            if u.leading_colon.is_some() {
                continue;
            }
            flatten_use(&u.tree, &mut prefix, &mut flat);
            for (name, target) in flat {
                module.imports.push(Import {
                    name,
                    text: target.join("::"),
                    path: target,
                    public,
                });
            }
        }
        self.modules.insert(path.clone(), module);
        let dir = path.join("/");
        for child in children {
            let mut child_path = path.clone();
            child_path.push(child.ident.to_string());
            match &child.content {
                Some((_, items)) => self.load_items(files, file, child_path, items)?,
                None => {
                    let base = if dir.is_empty() {
                        child.ident.to_string()
                    } else {
                        format!("{dir}/{}", child.ident)
                    };
                    let flat = format!("{base}.rs");
                    let nested = format!("{base}/mod.rs");
                    let chosen = if files.contains_key(&flat) {
                        flat
                    } else {
                        nested
                    };
                    self.load_file(files, &chosen, child_path)?;
                }
            }
        }
        Ok(())
    }

    /// Resolves `segments` as written in module `at` to the file that defines
    /// what they name; None when the path leaves the crate or names a local
    /// binding, or when it ends on a module (`ends_on_module` is then set).
    fn resolve(&self, at: &[String], segments: &[String], depth: usize) -> Option<Resolved> {
        if depth > 32 || segments.is_empty() {
            return None;
        }
        let module = self.modules.get(at)?;
        let first = segments[0].as_str();
        let (start, rest): (Vec<String>, &[String]) = match first {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (at.to_vec(), &segments[1..]),
            "super" => {
                let mut here = at.to_vec();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    here.pop()?;
                    rest = &rest[1..];
                }
                (here, rest)
            }
            name if module.children.contains(name) => {
                let mut child = at.to_vec();
                child.push(name.to_owned());
                (child, &segments[1..])
            }
            name => {
                let import = module
                    .imports
                    .iter()
                    .find(|i| i.name.as_deref() == Some(name))?;
                let mut path = import.path.clone();
                path.extend_from_slice(&segments[1..]);
                return self.resolve(at, &path, depth + 1);
            }
        };
        self.walk(start, rest, depth)
    }

    fn walk(&self, at: Vec<String>, rest: &[String], depth: usize) -> Option<Resolved> {
        let module = self.modules.get(&at)?;
        let Some(segment) = rest.first() else {
            return Some(Resolved::Module(at));
        };
        let more = rest.len() > 1;
        let child = || {
            let mut child = at.clone();
            child.push(segment.clone());
            self.walk(child, &rest[1..], depth)
        };
        if more && module.children.contains(segment) {
            return child();
        }
        if module.items.contains(segment) {
            return Some(Resolved::File(module.file.clone()));
        }
        if let Some(import) = module
            .imports
            .iter()
            .find(|i| i.name.as_deref() == Some(segment.as_str()))
        {
            let mut path = import.path.clone();
            path.extend_from_slice(&rest[1..]);
            return self.resolve(&at, &path, depth + 1);
        }
        if module.children.contains(segment) {
            return child();
        }
        for import in module.imports.iter().filter(|i| i.name.is_none()) {
            let mut path = import.path.clone();
            path.extend_from_slice(rest);
            if let Some(found) = self.resolve(&at, &path, depth + 1) {
                return Some(found);
            }
        }
        // A name we cannot see (a variant, an associated item of a module
        // we could not read): the module's own file is the honest answer.
        Some(Resolved::File(module.file.clone()))
    }

    /// Whether `file` is the file of a module strictly enclosing `at`.
    fn is_enclosing_hub(&self, file: &str, at: &[String]) -> bool {
        (0..at.len()).any(|len| self.modules.get(&at[..len]).is_some_and(|m| m.file == file))
    }

    fn is_descendant(&self, file: &str, of: &[String]) -> bool {
        self.modules
            .iter()
            .any(|(path, m)| m.file == file && path.len() > of.len() && path.starts_with(of))
    }

    /// The file-level import graph.
    pub fn edges(&self) -> Edges {
        let mut edges = Edges::new();
        for (at, module) in &self.modules {
            let mut add = |to: String, why: &str| {
                if to != module.file && !self.is_enclosing_hub(&to, at) {
                    edges
                        .entry((module.file.clone(), to))
                        .or_insert_with(|| why.to_owned());
                }
            };
            let mut used = BTreeSet::new();
            for code in &module.code {
                idents(code.clone(), &mut used);
                for path in paths(code.clone()) {
                    if let Some(Resolved::File(to)) = self.resolve(at, &path, 0) {
                        add(to, &path.join("::"));
                    }
                }
            }
            for import in &module.imports {
                let Some(Resolved::File(to)) = self.resolve(at, &import.path, 0) else {
                    continue;
                };
                let facade = import.public
                    && self.is_descendant(&to, at)
                    && !import.name.as_ref().is_some_and(|n| used.contains(n));
                if !facade {
                    add(to, &format!("use {}", import.text));
                }
            }
        }
        edges
    }

    /// The top-level module (`crate::X`) each file belongs to; the crate
    /// root's own file maps to `crate`.
    pub fn top_level_of(&self, file: &str) -> String {
        self.modules
            .iter()
            .filter(|(_, m)| m.file == file)
            .map(|(path, _)| path.first().cloned().unwrap_or_else(|| "crate".to_owned()))
            .next()
            .unwrap_or_else(|| file.to_owned())
    }
}

#[derive(Debug)]
enum Resolved {
    File(String),
    #[allow(dead_code)]
    Module(Vec<String>),
}

fn idents(tokens: TokenStream, out: &mut BTreeSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => idents(g.stream(), out),
            _ => {}
        }
    }
}

/// Every `a::b::c` sequence in `tokens` (not those starting with `::`).
fn paths(tokens: TokenStream) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    collect_paths(tokens, &mut out);
    out
}

fn collect_paths(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let is_sep = |i: usize| {
        matches!((trees.get(i), trees.get(i + 1)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                if a.as_char() == ':' && b.as_char() == ':')
    };
    let mut i = 0;
    while i < trees.len() {
        match &trees[i] {
            TokenTree::Group(g) => {
                collect_paths(g.stream(), out);
                i += 1;
            }
            TokenTree::Ident(first) => {
                let leading = i >= 2 && is_sep(i - 2);
                let mut path = vec![first.to_string()];
                let mut j = i + 1;
                while is_sep(j) {
                    match trees.get(j + 2) {
                        Some(TokenTree::Ident(next)) => {
                            path.push(next.to_string());
                            j += 3;
                        }
                        _ => break,
                    }
                }
                if path.len() > 1 && !leading {
                    out.push(path);
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
}

/// A strongly connected component of more than one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Its members, sorted.
    pub members: Vec<String>,
    /// One shortest cycle through it, `a.rs -> b.rs (why) -> a.rs`.
    pub text: String,
}

/// The strongly connected components of more than one member, each with one
/// concrete cycle through it.
pub fn components(edges: &Edges) -> Vec<Cycle> {
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        nodes.insert(from);
        nodes.insert(to);
        next.entry(from).or_default().push(to);
    }
    // Tarjan's algorithm, iteratively.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut low: BTreeMap<&str, usize> = BTreeMap::new();
    let mut on_stack: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = Vec::new();
    let mut components: Vec<Vec<&str>> = Vec::new();
    let mut counter = 0;
    for &root in &nodes {
        if index.contains_key(root) {
            continue;
        }
        let mut work: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some(&mut (node, ref mut child)) = work.last_mut() {
            if *child == 0 && !index.contains_key(node) {
                index.insert(node, counter);
                low.insert(node, counter);
                counter += 1;
                stack.push(node);
                on_stack.insert(node);
            }
            let succ = next.get(node).map(Vec::as_slice).unwrap_or(&[]);
            if *child < succ.len() {
                let to = succ[*child];
                *child += 1;
                if !index.contains_key(to) {
                    work.push((to, 0));
                } else if on_stack.contains(to) {
                    let l = low[node].min(index[to]);
                    low.insert(node, l);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let l = low[parent].min(low[node]);
                low.insert(parent, l);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(top) = stack.pop() {
                    on_stack.remove(top);
                    component.push(top);
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    components.push(component);
                }
            }
        }
    }
    components
        .into_iter()
        .map(|component| Cycle {
            members: component.iter().map(|m| (*m).to_owned()).collect(),
            text: describe_cycle(&component, &next, edges),
        })
        .collect()
}

/// Each cycle of [`components`], as text.
pub fn cycles(edges: &Edges) -> Vec<String> {
    components(edges).into_iter().map(|c| c.text).collect()
}

/// One shortest cycle through the component's first file.
fn describe_cycle(component: &[&str], next: &BTreeMap<&str, Vec<&str>>, edges: &Edges) -> String {
    let members: BTreeSet<&str> = component.iter().copied().collect();
    let start = component[0];
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut end = None;
    'search: while let Some(node) = queue.pop_front() {
        for &to in next.get(node).map(Vec::as_slice).unwrap_or(&[]) {
            if !members.contains(to) {
                continue;
            }
            if to == start {
                end = Some(node);
                break 'search;
            }
            if !came_from.contains_key(to) {
                came_from.insert(to, node);
                queue.push_back(to);
            }
        }
    }
    let mut chain = vec![start];
    let mut node = end.expect("a strongly connected component has a cycle");
    while node != start {
        chain.push(node);
        node = came_from[node];
    }
    chain[1..].reverse();
    chain.push(start);
    let mut text = format!("{} members: {}", component.len(), chain[0]);
    for pair in chain.windows(2) {
        let why = &edges[&(pair[0].to_owned(), pair[1].to_owned())];
        text.push_str(&format!(" -> {} ({why})", pair[1]));
    }
    text
}
