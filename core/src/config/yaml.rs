//! A YAML tree that remembers where every node came from, and a serde `Deserializer` over it.
//!
//! The configuration is read in two steps — the component id decides the config type — and the
//! usual serde YAML crates lose source positions across that step. So weir parses the file once
//! with `yaml-rust2`'s event parser into [`Node`]s that carry their [`Location`], substitutes
//! `${env:…}` references in scalars, and deserializes each component's section from its node.
//! Every error ([`DeError`]) then names the line, column and key path where it happened.
//!
//! [`Squash`] reads two config structs from one mapping, as the Collector's
//! `mapstructure:",squash"` does (client settings shared by several components sit beside each
//! component's own keys). serde's `flatten` would do it, but it buffers values in serde's own
//! untyped form, which loses the locations and the scalar typing of this tree; `Squash` splits
//! the located mapping instead, so errors keep their line, column and key path.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn of(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Location { line: m.line(), column: m.col() + 1 }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// How a scalar was written: where its value starts relative to the node's location, and
/// which characters of the value took two in the file (`''` in single quotes, escapes in
/// double quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`: the value starts on the next line.
    Literal,
    /// `>`: the value starts on the next line.
    Folded,
}

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        value: String,
        plain: bool,
        /// How it was written (for readers that locate positions inside the value).
        style: ScalarStyle,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Where the key path `path` (`protocols::grpc::endpoint`, `policies[2]::name`) points in
    /// this node: the deepest key of it that is present (a key that is absent because it has
    /// its default value locates at its parent), and whether the whole path was found.
    pub fn locate(&self, path: &str) -> (Location, bool) {
        let mut node = self;
        let mut loc = self.loc;
        for part in path.split("::") {
            let (name, indices) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                let Some((k, v)) = node.as_map().and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some(name))) else {
                    return (loc, false);
                };
                loc = k.loc;
                node = v;
            }
            for index in indices.split('[').filter(|i| !i.is_empty()) {
                let Some(item) = index.trim_end_matches(']').parse::<usize>().ok().and_then(|i| {
                    if let NodeKind::Seq(items) = &node.kind {
                        items.get(i)
                    } else {
                        None
                    }
                }) else {
                    return (loc, false);
                };
                loc = item.loc;
                node = item;
            }
        }
        (loc, true)
    }

    /// The entries of a mapping node; `None` for other kinds. A null node reads as an empty map.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            NodeKind::Null => Some(&[]),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// Deserializes this node into `T`, with located errors.
    pub fn deserialize<T: de::DeserializeOwned>(&self) -> Result<T, DeError> {
        T::deserialize(self)
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// An error found while reading a node, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub message: String,
    pub loc: Option<Location>,
    /// Keys from the node that was deserialized down to the failing one; list elements are
    /// `[i]`.
    pub path: Vec<String>,
}

impl DeError {
    pub fn new(message: impl Into<String>, loc: Location) -> Self {
        DeError { message: message.into(), loc: Some(loc), path: Vec::new() }
    }

    fn at(mut self, loc: Location) -> Self {
        self.loc.get_or_insert(loc);
        self
    }

    fn under(mut self, key: &str) -> Self {
        self.path.insert(0, key.to_string());
        self
    }
}

/// Joins a key path: `a::b`, and `a[2]::b` for list elements.
pub fn join_path(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        if !out.is_empty() && !p.starts_with('[') {
            out.push_str("::");
        }
        out.push_str(p);
    }
    out
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let message = msg.to_string();
        if message == PASS_THROUGH {
            // A located error raised inside a `Squash`, handed through serde's generic error
            // type unchanged (see `pass_through`).
            if let Some(e) = PENDING_ERROR.with(|p| p.borrow_mut().take()) {
                return e;
            }
        }
        DeError { message, loc: None, path: Vec::new() }
    }
}

/// The newtype name under which [`RawNode`] asks this module's deserializer for the node itself.
const RAW_NODE: &str = "$weir::config::yaml::RawNode";
/// The message of an error whose located original waits in `PENDING_ERROR`.
const PASS_THROUGH: &str = "$weir::config::yaml::pass-through";

thread_local! {
    /// The node handed from `deserialize_newtype_struct(RAW_NODE)` to [`RawNode`]'s visitor,
    /// within one synchronous call.
    static CAPTURED_NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
    /// A located error on its way out through `D::Error::custom`, within one synchronous call.
    static PENDING_ERROR: RefCell<Option<DeError>> = const { RefCell::new(None) };
}

/// Turns a [`DeError`] into any serde error type; when that type is [`DeError`] (the only
/// deserializer configs are read with), the location and key path survive.
fn pass_through<E: de::Error>(e: DeError) -> E {
    let message = e.message.clone();
    PENDING_ERROR.with(|p| *p.borrow_mut() = Some(e));
    let out = E::custom(PASS_THROUGH);
    // Another deserializer did not take it: do not leave it for an unrelated error.
    if PENDING_ERROR.with(|p| p.borrow_mut().take()).is_some() {
        return E::custom(message);
    }
    out
}

/// A located error raised by a `Deserialize` implementation that reads [`RawNode`]s: when the
/// deserializer is this module's, the error keeps `loc` (a position inside a scalar, say)
/// instead of taking the node's.
pub fn located_error<E: de::Error>(message: impl Into<String>, loc: Location) -> E {
    pass_through(DeError::new(message, loc))
}

/// A node of the configuration, kept as it is (with its location) to be read later.
#[derive(Debug, Clone)]
pub struct RawNode(pub Node);

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<RawNode, D::Error> {
        struct Capture;
        impl<'de> Visitor<'de> for Capture {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node of weir's configuration tree")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
                CAPTURED_NODE
                    .with(|c| c.borrow_mut().take())
                    .map(RawNode)
                    .ok_or_else(|| E::custom("configuration nodes can only be read from weir's YAML tree"))
            }
        }
        d.deserialize_newtype_struct(RAW_NODE, Capture)
    }
}

/// The keys a serde-derived struct reads, found by asking it to deserialize from a probe.
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

/// The field and the valid keys of an "unknown field" message, in serde's words
/// (``unknown field `x`, expected `a` or `b` ``, ``… expected one of `a`, `b` ``, ``… there are no
/// fields``) or in [`Squash`]'s (``… expected one of a, b``).
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected ").map(|(_, e)| e).unwrap_or("");
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let keys = expected
        .split([',', ' '])
        .map(|k| k.trim_matches('`'))
        .filter(|k| !k.is_empty() && *k != "or")
        .map(str::to_string)
        .collect();
    Some((field.to_string(), keys))
}

/// Two config structs read from one YAML mapping, as the Collector's `squash`: each key goes to
/// the struct that declares it (`S`, the shared settings, first), every other key to `T`. A key
/// neither declares is an error listing the keys of both.
///
/// `S` must be a serde-derived struct (its field names are read from the derive). Both parts
/// keep their own `#[serde(deny_unknown_fields, default)]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Squash<T, S> {
    /// The component's own keys.
    pub own: T,
    /// The shared keys squashed beside them.
    pub shared: S,
}

impl<T, S> std::ops::Deref for Squash<T, S> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.own
    }
}

impl<'de, T: DeserializeOwned, S: DeserializeOwned> Deserialize<'de> for Squash<T, S> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Squash<T, S>, D::Error> {
        let RawNode(node) = RawNode::deserialize(d)?;
        let shared_keys = struct_fields::<S>();
        let (own, shared) = match &node.kind {
            NodeKind::Map(entries) => {
                let (shared, own): (Vec<_>, Vec<_>) =
                    entries.iter().cloned().partition(|(k, _)| k.as_str().is_some_and(|k| shared_keys.contains(&k)));
                (Node { kind: NodeKind::Map(own), loc: node.loc }, Node { kind: NodeKind::Map(shared), loc: node.loc })
            }
            _ => (node.clone(), Node { kind: NodeKind::Null, loc: node.loc }),
        };
        let shared = shared.deserialize::<S>().map_err(pass_through)?;
        let own = own.deserialize::<T>().map_err(|mut e| {
            if let Some((field, mut keys)) = unknown_field(&e.message) {
                keys.extend(shared_keys.iter().map(|k| k.to_string()));
                keys.sort_unstable();
                keys.dedup();
                e.message = format!("unknown field `{field}`, expected one of {}", keys.join(", "));
            }
            pass_through(e)
        })?;
        Ok(Squash { own, shared })
    }
}

/// Parses YAML text into a located tree, expanding `${env:…}` in scalars with `env`.
/// An empty document is a null node.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Node, DeError> {
    let mut builder = TreeBuilder { stack: Vec::new(), anchors: HashMap::new(), root: None, error: None, env };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| {
        let m = e.marker();
        DeError::new(format!("invalid YAML: {}", e.info()), Location::of(*m))
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root.unwrap_or(Node { kind: NodeKind::Null, loc: Location { line: 1, column: 1 } }))
}

enum Open {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

struct TreeBuilder<'e> {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<DeError>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl TreeBuilder<'_> {
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(seq, _)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Open::Map(map, _, pending_key)) => match pending_key.take() {
                None => {
                    if let NodeKind::Map(entries) = &map.kind {
                        // yaml-rust2 marks a block mapping at the `:` of its first key; the
                        // mapping starts at that key.
                        if entries.is_empty() && (node.loc.line, node.loc.column) < (map.loc.line, map.loc.column) {
                            map.loc = node.loc;
                        }
                        // YAML keys are unique; a repeated one would silently replace the first.
                        if let Some(k) = node.as_str() {
                            if let Some((first, _)) = entries.iter().find(|(e, _)| e.as_str() == Some(k)) {
                                let message = format!("mapping key {k:?} already defined at line {}", first.loc.line);
                                self.error.get_or_insert(DeError::new(message, node.loc));
                            }
                        }
                    }
                    *pending_key = Some(node);
                }
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let loc = Location::of(mark);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                let scalar_style = match style {
                    TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    TScalarStyle::Literal => ScalarStyle::Literal,
                    TScalarStyle::Folded => ScalarStyle::Folded,
                    _ => ScalarStyle::Plain,
                };
                let node = if plain && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    // An empty value (`key:` and nothing more) is placed at its key: yaml-rust2
                    // marks it where the next token starts, often on a later line.
                    let loc = match self.stack.last() {
                        Some(Open::Map(_, _, Some(key))) if value.is_empty() => key.loc,
                        _ => loc,
                    };
                    Node { kind: NodeKind::Null, loc }
                } else {
                    match expand_env(&value, self.env) {
                        Ok(v) => Node { kind: NodeKind::Scalar { value: v, plain, style: scalar_style }, loc },
                        Err(msg) => {
                            self.error = Some(DeError::new(msg, loc));
                            return;
                        }
                    }
                };
                self.complete(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Open::Seq(Node { kind: NodeKind::Seq(Vec::new()), loc }, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Node { kind: NodeKind::Map(Vec::new()), loc }, anchor, None))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(node, anchor)) | Some(Open::Map(node, anchor, _)) => self.complete(node, anchor),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.complete(node, 0),
                None => self.error = Some(DeError::new("alias to an unknown anchor", loc)),
            },
            _ => {}
        }
    }
}

/// Expands `${env:NAME}`, `${NAME}`, `${env:NAME:-default}` and `$$` the way the Collector does.
/// An unset variable without a default expands to the empty string.
pub fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${") {
            let end = r.find('}').ok_or_else(|| format!("unclosed \"${{\" in {s:?}"))?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            let reference = match inner.split_once(':') {
                Some(("env", reference)) => reference,
                Some((scheme, _)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    return Err(format!(
                        "config source \"{scheme}\" in \"${{{inner}}}\" is not supported; weir reads \"${{env:NAME}}\" and \"${{env:NAME:-default}}\""
                    ))
                }
                _ => inner,
            };
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (reference, None),
            };
            let valid = name.len() <= 200
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "environment variable name {name:?} is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]*"
                ));
            }
            match (env(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    tracing::warn!(message = "Configuration references unset environment variable.", name = name)
                }
            }
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        digits.replace('_', "").parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" => Some(f64::NAN),
        _ if s.bytes().any(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Scalar { value, plain: true, .. } => {
                if let Some(b) = parse_bool(value) {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(value) {
                    match i64::try_from(i) {
                        Ok(i) => visitor.visit_i64(i),
                        Err(_) => visitor.visit_u64(
                            u64::try_from(i).map_err(|_| <DeError as de::Error>::custom("integer out of range"))?,
                        ),
                    }
                } else if let Some(f) = parse_float(value) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_borrowed_str(value)
                }
            }
            NodeKind::Scalar { value, plain: false, .. } => visitor.visit_borrowed_str(value),
            NodeKind::Seq(items) => visitor.visit_seq(Seq::new(items)),
            NodeKind::Map(entries) => visitor.visit_map(Map { entries: entries.iter(), value: None, key: "" }),
        };
        r.map_err(|e: DeError| e.at(self.loc))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.as_str().and_then(parse_bool) {
            Some(b) => visitor.visit_bool(b).map_err(|e: DeError| e.at(self.loc)),
            None => Err(self.invalid("a boolean (true or false)")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.as_str().and_then(parse_int).and_then(|i| i64::try_from(i).ok()) {
            Some(i) => visitor.visit_i64(i).map_err(|e: DeError| e.at(self.loc)),
            None => Err(self.invalid("an integer")),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.as_str().and_then(parse_int).and_then(|i| u64::try_from(i).ok()) {
            Some(i) => visitor.visit_u64(i).map_err(|e: DeError| e.at(self.loc)),
            None => Err(self.invalid("a non-negative integer")),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.as_str().and_then(|s| parse_int(s).map(|i| i as f64).or_else(|| parse_float(s))) {
            Some(f) => visitor.visit_f64(f).map_err(|e: DeError| e.at(self.loc)),
            None => Err(self.invalid("a number")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_borrowed_str(value),
            NodeKind::Null => visitor.visit_borrowed_str(""),
            _ => Err(self.invalid("a string")),
        }
        .map_err(|e: DeError| e.at(self.loc))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Null => visitor.visit_unit(),
            _ => Err(self.invalid("null")),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Seq(items) => visitor.visit_seq(Seq::new(items)),
            NodeKind::Null => visitor.visit_seq(Seq::new(&[])),
            _ => Err(self.invalid("a sequence")),
        }
        .map_err(|e: DeError| e.at(self.loc))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Map(entries) => visitor.visit_map(Map { entries: entries.iter(), value: None, key: "" }),
            NodeKind::Null => visitor.visit_map(Map { entries: [].iter(), value: None, key: "" }),
            _ => Err(self.invalid("a mapping")),
        }
        .map_err(|e: DeError| e.at(self.loc))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_enum(value.as_str().into_deserializer()),
            _ => Err(self.invalid(&format!("one of {}", variants.join(", ")))),
        }
        .map_err(|e: DeError| e.at(self.loc))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        if name == RAW_NODE {
            CAPTURED_NODE.with(|c| *c.borrow_mut() = Some(self.clone()));
            return visitor.visit_unit();
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    // Narrower numbers read like the wide ones, so that a bad value says "expected an integer,
    // found …" rather than naming a Rust type.
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit_struct tuple tuple_struct
    }
}

impl Node {
    fn invalid(&self, expected: &str) -> DeError {
        let found = match &self.kind {
            NodeKind::Scalar { value, .. } => format!("{value:?}"),
            _ => self.kind_name().to_string(),
        };
        DeError::new(format!("expected {expected}, found {found}"), self.loc)
    }
}

struct Seq<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
}

impl<'de> Seq<'de> {
    fn new(items: &'de [Node]) -> Self {
        Seq { items: items.iter().enumerate() }
    }
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            // The key path names the element: `policies[2]::name`.
            Some((i, node)) => seed.deserialize(node).map(Some).map_err(|e| e.at(node.loc).under(&format!("[{i}]"))),
            None => Ok(None),
        }
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
    key: &'de str,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                self.key = k.as_str().unwrap_or("");
                seed.deserialize(k).map(Some).map_err(|e| e.at(k.loc))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let v = self.value.take().ok_or_else(|| <DeError as de::Error>::custom("value requested before key"))?;
        seed.deserialize(v).map_err(|e| e.at(v.loc).under(self.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Grpc {
        endpoint: String,
        max_recv_msg_size_mib: u64,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Protocols {
        grpc: Option<Grpc>,
        enabled: bool,
        ratio: f64,
        names: Vec<String>,
    }

    #[test]
    fn unknown_key_is_located_and_lists_the_choices() {
        let text = "grpc:\n  endpoint: localhost:4317\n  endpointt: x\n";
        let node = parse(text, &no_env).unwrap();
        let err = node.deserialize::<Protocols>().unwrap_err();
        assert_eq!(err.loc, Some(Location { line: 3, column: 3 }));
        assert_eq!(err.path, vec!["grpc".to_string()]);
        assert!(err.message.contains("unknown field `endpointt`"), "{}", err.message);
        assert!(err.message.contains("expected `endpoint` or `max_recv_msg_size_mib`"), "{}", err.message);
    }

    #[test]
    fn wrong_type_is_located_at_the_value() {
        let node = parse("enabled: yes please\n", &no_env).unwrap();
        let err = node.deserialize::<Protocols>().unwrap_err();
        assert_eq!(err.loc, Some(Location { line: 1, column: 10 }));
        assert!(err.message.contains("expected a boolean"), "{}", err.message);
    }

    #[test]
    fn null_section_means_defaults() {
        let node = parse("grpc:\n", &no_env).unwrap();
        let p: Protocols = node.deserialize().unwrap();
        assert_eq!(p.grpc, None);
        let node = parse("grpc: {}\n", &no_env).unwrap();
        let p: Protocols = node.deserialize().unwrap();
        assert_eq!(p.grpc, Some(Grpc::default()));
    }

    #[test]
    fn scalars_are_typed_by_target() {
        let node = parse("ratio: 1\nnames: [a, 2, 'b']\nenabled: true\n", &no_env).unwrap();
        let p: Protocols = node.deserialize().unwrap();
        assert_eq!(p.ratio, 1.0);
        assert_eq!(p.names, vec!["a", "2", "b"]);
        assert!(p.enabled);
    }

    #[test]
    fn env_references_expand_with_defaults_and_escapes() {
        let env = |n: &str| (n == "PORT").then(|| "4317".to_string());
        assert_eq!(expand_env("localhost:${env:PORT}", &env).unwrap(), "localhost:4317");
        assert_eq!(expand_env("${PORT}", &env).unwrap(), "4317");
        assert_eq!(expand_env("${env:HOST:-0.0.0.0}:1", &env).unwrap(), "0.0.0.0:1");
        assert_eq!(expand_env("${env:UNSET}", &env).unwrap(), "");
        assert_eq!(expand_env("$$HOME", &env).unwrap(), "$HOME");
        assert!(expand_env("${env:1BAD}", &env).unwrap_err().contains("invalid"));
        assert!(expand_env("${file:/etc/x}", &env).unwrap_err().contains("not supported"));
    }

    #[test]
    fn anchors_and_aliases_are_resolved() {
        let node = parse("a: &g {endpoint: x}\ngrpc: *g\n", &no_env).unwrap();
        #[derive(Deserialize)]
        struct T {
            #[allow(dead_code)]
            a: Grpc,
            grpc: Grpc,
        }
        let t: T = node.deserialize().unwrap();
        assert_eq!(t.grpc.endpoint, "x");
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Client {
        brokers: Vec<String>,
        client_id: String,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Own {
        topic: String,
        grpc: Option<Grpc>,
    }

    #[test]
    fn squash_reads_both_structs_from_one_mapping() {
        let node = parse("topic: t\nbrokers: [a:1]\nclient_id: c\n", &no_env).unwrap();
        let s: Squash<Own, Client> = node.deserialize().unwrap();
        assert_eq!(s.topic, "t");
        assert_eq!(s.shared, Client { brokers: vec!["a:1".into()], client_id: "c".into() });
        let s: Squash<Own, Client> = parse("", &no_env).unwrap().deserialize().unwrap();
        assert_eq!(s, Squash::default());
    }

    #[test]
    fn squash_keeps_locations_and_paths_of_errors_in_either_part() {
        let text = "topic: t\ngrpc:\n  endpointt: x\n";
        let err = parse(text, &no_env).unwrap().deserialize::<Squash<Own, Client>>().unwrap_err();
        assert_eq!(err.loc, Some(Location { line: 3, column: 3 }));
        assert_eq!(err.path, vec!["grpc".to_string()]);
        let err = parse("brokers: 7\n", &no_env).unwrap().deserialize::<Squash<Own, Client>>().unwrap_err();
        assert_eq!(err.loc, Some(Location { line: 1, column: 10 }));
        assert_eq!(err.path, vec!["brokers".to_string()]);
    }

    #[test]
    fn squash_lists_the_keys_of_both_parts_for_an_unknown_one() {
        let err = parse("topic: t\nbrokerz: x\n", &no_env).unwrap().deserialize::<Squash<Own, Client>>().unwrap_err();
        assert_eq!(err.loc, Some(Location { line: 2, column: 1 }));
        assert_eq!(err.message, "unknown field `brokerz`, expected one of brokers, client_id, grpc, topic");
    }

    #[test]
    fn nested_squashes_list_every_key() {
        #[derive(Debug, Deserialize, PartialEq, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Topics {
            topic: String,
        }
        let node = parse("nope: 1\n", &no_env).unwrap();
        let err = node.deserialize::<Squash<Squash<Protocols, Topics>, Client>>().unwrap_err();
        assert_eq!(
            err.message,
            "unknown field `nope`, expected one of brokers, client_id, enabled, grpc, names, ratio, topic"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("a: [1, 2\nb: 3\n", &no_env).unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.loc.is_some());
    }
}
