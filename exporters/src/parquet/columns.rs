//! Column building blocks shared by the three signals: ids as hex, attribute maps with
//! stringified values, timestamps, and the sampling threshold read from `trace_state`.

use arrow_array::builder::{MapBuilder, MapFieldNames, StringBuilder};
use arrow_schema::{DataType, Field, Fields, TimeUnit};
use std::sync::Arc;
use weir_core::pdata::views::{Attributes, RequestView, ResourceGroupView, ScopeGroupView};
use weir_core::pdata::wire::WireError;

/// The time zone of every timestamp column.
pub const UTC: &str = "UTC";

/// `Timestamp(ns, UTC)`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into()))
}

/// A column field.
pub fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// The Parquet spelling of a map (`key_value` entries of `key`, `value`).
fn map_names() -> MapFieldNames {
    MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() }
}

/// `Map<Utf8, Utf8>`, the type of every attributes column (what [`AttrMapBuilder`] builds).
pub fn attr_map_type() -> DataType {
    let entries =
        Fields::from(vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, true)]);
    DataType::Map(Arc::new(Field::new("key_value", DataType::Struct(entries), false)), false)
}

/// `List<item>` with nullable items, as Arrow's list builders make it.
pub fn list_type(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// A `Map<Utf8, Utf8>` column of attributes being built (values stringified, see
/// [`write_value`]); its type is [`attr_map_type`].
pub type AttrMap = MapBuilder<StringBuilder, StringBuilder>;

pub fn new_attr_map() -> AttrMap {
    MapBuilder::new(Some(map_names()), StringBuilder::new(), StringBuilder::new())
}

/// Attributes read once and kept as strings, for values repeated on many rows (a resource's
/// and a scope's attributes are written on every row of theirs).
pub fn collect_attrs<'a>(attrs: Attributes<'a>) -> Result<Vec<(&'a str, String)>, WireError> {
    let mut out = Vec::new();
    for kv in attrs.iter() {
        let (key, value) = kv?;
        let mut s = String::new();
        write_value(&mut s, value)?;
        out.push((key, s));
    }
    Ok(out)
}

/// What every row of one resource group repeats: its service and its attributes, read once
/// per resource group.
pub struct ResourceContext<'a> {
    pub service: &'a str,
    pub attributes: Vec<(&'a str, String)>,
}

impl<'a> ResourceContext<'a> {
    pub fn read(rg: ResourceGroupView<'a>) -> Result<ResourceContext<'a>, WireError> {
        let resource = rg.resource()?;
        Ok(ResourceContext {
            service: resource.service_name()?.unwrap_or(""),
            attributes: collect_attrs(resource.attributes())?,
        })
    }
}

/// What every row of one scope group repeats: its resource's context and its scope.
pub struct ScopeContext<'r, 'a> {
    pub resource: &'r ResourceContext<'a>,
    pub scope_name: &'a str,
    pub scope_version: &'a str,
}

/// Calls `each` with `columns` for every scope group of an encoded request (spans, logs or
/// metrics alike) and what its rows repeat. The walk is pdata's ([`RequestView::for_each_scope`]):
/// a resource's attributes are read once per resource group.
pub fn for_each_scope_group<'a, C>(
    columns: &mut C,
    request: &'a [u8],
    mut each: impl FnMut(&mut C, &ScopeContext<'_, 'a>, ScopeGroupView<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    RequestView::new(request).for_each_scope(
        columns,
        |_, rg| ResourceContext::read(rg),
        |columns, resource, sg| {
            let scope = sg.scope()?;
            let ctx = ScopeContext { resource, scope_name: scope.name()?, scope_version: scope.version()? };
            each(columns, &ctx, sg)
        },
    )
}

/// Appends one row of `pairs` to `map`.
pub fn append_pairs(map: &mut AttrMap, pairs: &[(&str, String)]) {
    let (keys, values) = map.entries();
    for (k, v) in pairs {
        keys.append_value(k);
        values.append_value(v);
    }
    end_row(map);
}

/// Appends one row: every attribute of `attrs`. `scratch` is reused between values.
pub fn append_attrs(map: &mut AttrMap, attrs: Attributes<'_>, scratch: &mut String) -> Result<(), WireError> {
    for kv in attrs.iter() {
        let (key, value) = kv?;
        scratch.clear();
        write_value(scratch, value)?;
        let (keys, values) = map.entries();
        keys.append_value(key);
        values.append_value(scratch.as_str());
    }
    end_row(map);
    Ok(())
}

fn end_row(map: &mut AttrMap) {
    // `append` fails only when keys and values differ in length; they are appended in pairs.
    map.append(true).expect("keys and values are appended in pairs");
}

/// Appends `bytes` as lowercase hex (ids). Empty ids stay empty strings, like the Collector's
/// ClickHouse exporter writes them (a root span's `parent_span_id` is `''`).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// Appends an id column value as hex.
pub fn append_hex(builder: &mut StringBuilder, scratch: &mut String, bytes: &[u8]) {
    scratch.clear();
    push_hex(scratch, bytes);
    builder.append_value(scratch.as_str());
}

pub use weir_core::pdata::stringify::{write_json, write_value};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex() {
        let mut s = String::new();
        push_hex(&mut s, &[0xab, 0x01, 0xff]);
        assert_eq!(s, "ab01ff");
    }
}
