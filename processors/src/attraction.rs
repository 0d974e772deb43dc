//! The Collector's attribute actions (its `attraction` package: `insert`, `update`, `upsert`,
//! `delete`, `hash`, `extract`, `convert`), shared by the `resource` and `attributes`
//! processors, each compiled into OTTL statements over the item's `attributes`.

use serde::Deserialize;

/// One action on an item's (or a resource's) attributes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeAction {
    /// The attribute the action works on (with `pattern`, `delete` and `hash` may do without).
    pub key: String,
    /// The value `insert`, `update` and `upsert` set: a string, integer, double or bool.
    pub value: Option<Literal>,
    /// Take the value from this attribute of the same item instead (skipped when absent).
    pub from_attribute: Option<String>,
    /// The Collector reads client metadata or auth data here; refused: weir's attribute actions
    /// do not see request metadata.
    pub from_context: Option<String>,
    /// `delete`: the attributes whose keys match this regular expression (`hash` with a pattern is
    /// refused for now).
    /// `extract`: the regular expression with named groups applied to `key`'s value; each
    /// group becomes an attribute of its name (overwriting one that exists).
    pub pattern: Option<String>,
    /// `convert`: `int`, `double` or `string`. A value that does not convert is left as it is.
    pub converted_type: Option<String>,
    /// `insert`, `update`, `upsert`, `delete`, `hash`, `extract` or `convert`.
    pub action: String,
}

/// A value of `value`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
}

/// An OTTL string literal of `s`.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Literal {
    pub(crate) fn ottl(&self) -> String {
        match self {
            Literal::Bool(b) => b.to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Double(d) if d.fract() == 0.0 && d.is_finite() => format!("{d:.1}"),
            Literal::Double(d) => d.to_string(),
            Literal::String(s) => quoted(s),
        }
    }
}

impl AttributeAction {
    /// The OTTL statements of this action, with paths relative to the context the caller
    /// compiles them in (`attributes` is that item's attributes), or what is wrong with it.
    pub(crate) fn statements(&self) -> Result<Vec<String>, String> {
        let key = quoted(&self.key);
        let attr = format!("attributes[{key}]");
        if self.from_context.is_some() {
            return Err(
                "from_context: weir's attribute actions do not see request metadata; set the value with `value` or \
                 from another attribute with `from_attribute`"
                    .into(),
            );
        }
        let needs_key = |what: &str| -> Result<(), String> {
            if self.key.is_empty() {
                Err(format!("action {what} needs a key"))
            } else {
                Ok(())
            }
        };
        let source = || -> Result<(String, String), String> {
            match (&self.value, &self.from_attribute) {
                (Some(v), None) => Ok((v.ottl(), String::new())),
                (None, Some(from)) => {
                    let from = format!("attributes[{}]", quoted(from));
                    Ok((from.clone(), format!(" and {from} != nil")))
                }
                _ => Err(format!("action {} needs exactly one of value and from_attribute", self.action)),
            }
        };
        let one = |s: String| Ok(vec![s]);
        match self.action.as_str() {
            "insert" => {
                needs_key("insert")?;
                let (value, guard) = source()?;
                one(format!("set({attr}, {value}) where {attr} == nil{guard}"))
            }
            "update" => {
                needs_key("update")?;
                let (value, guard) = source()?;
                one(format!("set({attr}, {value}) where {attr} != nil{guard}"))
            }
            "upsert" => {
                needs_key("upsert")?;
                let (value, guard) = source()?;
                let guard = guard.strip_prefix(" and ").map(|g| format!(" where {g}")).unwrap_or_default();
                one(format!("set({attr}, {value}){guard}"))
            }
            "delete" => match (&self.pattern, self.key.is_empty()) {
                (None, true) => Err("action delete needs a key or a pattern".into()),
                (pattern, empty) => {
                    let mut out = Vec::new();
                    if !empty {
                        out.push(format!("delete_key(attributes, {key})"));
                    }
                    if let Some(p) = pattern {
                        out.push(format!("delete_matching_keys(attributes, {})", quoted(p)));
                    }
                    Ok(out)
                }
            },
            "hash" => {
                if self.pattern.is_some() {
                    return Err("action hash with a pattern is not supported by weir yet; name the key".into());
                }
                needs_key("hash")?;
                one(format!("set({attr}, SHA256({attr})) where IsString({attr})"))
            }
            "extract" => {
                needs_key("extract")?;
                let pattern = self.pattern.as_deref().ok_or("action extract needs a pattern")?;
                let compiled = regex::Regex::new(pattern).map_err(|e| format!("pattern: {e}"))?;
                if compiled.capture_names().flatten().next().is_none() {
                    return Err("pattern: an extract pattern needs at least one named group, e.g. (?P<name>...)".into());
                }
                one(format!(
                    "merge_maps(attributes, ExtractPatterns({attr}, {}), \"upsert\") where IsString({attr})",
                    quoted(pattern)
                ))
            }
            "convert" => {
                needs_key("convert")?;
                let f = match self.converted_type.as_deref() {
                    Some("int") => "Int",
                    Some("double") => "Double",
                    Some("string") => "String",
                    Some(other) => return Err(format!("converted_type: {other:?} is not one of int, double, string")),
                    None => return Err("action convert needs converted_type (int, double or string)".into()),
                };
                one(format!("set({attr}, {f}({attr})) where {attr} != nil and {f}({attr}) != nil"))
            }
            "" => Err("action is required (insert, update, upsert, delete, hash, extract or convert)".into()),
            other => {
                Err(format!("action: {other:?} is not one of insert, update, upsert, delete, hash, extract, convert"))
            }
        }
    }
}
