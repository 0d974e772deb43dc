//! `header_extraction`: the values of chosen Kafka message headers become resource attributes
//! `kafka.header.<name>` on every resource of the message, as the Collector's kafka receiver
//! sets them (an attribute of that name already there is replaced).
//!
//! Bytes first: each resource group is copied except its resource, and the resource is its
//! received fields minus the replaced attributes, plus the new ones.

use weir_core::pdata::edit::{copy_fields, write_bytes_field, write_key_value};
use weir_core::pdata::views::raw_key_value;
use weir_core::pdata::{proto, AnyValue, Payload, WireError};

/// The attribute name of header `name`.
pub(crate) fn attribute_name(name: &str) -> String {
    format!("kafka.header.{name}")
}

/// The values of the `wanted` headers of a message: for each name, its first occurrence.
pub(crate) fn extract(headers: &[(&str, Option<&[u8]>)], wanted: &[String]) -> Vec<(String, String)> {
    wanted
        .iter()
        .filter_map(|name| {
            let value = headers.iter().find(|(k, _)| k == name)?.1.unwrap_or_default();
            Some((attribute_name(name), String::from_utf8_lossy(value).into_owned()))
        })
        .collect()
}

/// `payload` with `attributes` set on every resource.
pub(crate) fn set_resource_attributes(
    payload: &Payload,
    attributes: &[(String, String)],
) -> Result<Payload, WireError> {
    if attributes.is_empty() {
        return Ok(payload.clone());
    }
    let mut out = Vec::with_capacity(payload.len() + 64);
    for rg in payload.view().resources() {
        let rg = rg?;
        let resource = match rg.resource() {
            Ok(r) => r.bytes(),
            Err(e) => return Err(e),
        };
        let mut new_resource = Vec::with_capacity(resource.len() + 64);
        copy_fields(&mut new_resource, resource, |f| {
            if f.number != proto::resource::ATTRIBUTES {
                return true;
            }
            // Keep an attribute unless one of ours replaces it.
            match f.bytes().and_then(raw_key_value) {
                Ok((key, _)) => !attributes.iter().any(|(name, _)| name.as_bytes() == key),
                Err(_) => true,
            }
        })?;
        for (name, value) in attributes {
            write_key_value(&mut new_resource, proto::resource::ATTRIBUTES, name, &AnyValue::String(value));
        }
        let mut group = Vec::with_capacity(rg.bytes().len() + 64);
        copy_fields(&mut group, rg.bytes(), |f| f.number != proto::resource_group::RESOURCE)?;
        write_bytes_field(&mut group, proto::resource_group::RESOURCE, &new_resource);
        write_bytes_field(&mut out, proto::request::RESOURCE_GROUPS, &group);
    }
    Ok(Payload::from_counted(payload.signal(), out.into(), payload.items()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::pdata::Signal;

    #[test]
    fn headers_become_resource_attributes_replacing_same_named_ones() {
        let wanted = vec!["tenant".to_string(), "absent".to_string(), "env".to_string()];
        let headers = [("tenant", Some(&b"a"[..])), ("env", Some(&b"prod"[..])), ("tenant", Some(&b"b"[..]))];
        let got = extract(&headers, &wanted);
        assert_eq!(
            got,
            [
                ("kafka.header.tenant".to_string(), "a".to_string()),
                ("kafka.header.env".to_string(), "prod".to_string())
            ]
        );

        // Two resources, the second already carrying kafka.header.env; one span each.
        let mut body = Vec::new();
        for old in [None, Some("old")] {
            let mut resource = Vec::new();
            write_key_value(&mut resource, proto::resource::ATTRIBUTES, "service.name", &AnyValue::String("svc"));
            if let Some(v) = old {
                write_key_value(&mut resource, proto::resource::ATTRIBUTES, "kafka.header.env", &AnyValue::String(v));
            }
            let mut scope = Vec::new();
            write_bytes_field(&mut scope, proto::scope_group::ITEMS, &[0x2a, 1, b's']);
            let mut rg = Vec::new();
            write_bytes_field(&mut rg, proto::resource_group::RESOURCE, &resource);
            write_bytes_field(&mut rg, proto::resource_group::SCOPE_GROUPS, &scope);
            write_bytes_field(&mut body, proto::request::RESOURCE_GROUPS, &rg);
        }
        let payload = Payload::new(Signal::Traces, body.into()).unwrap();
        let out = set_resource_attributes(&payload, &got).unwrap();
        let again = Payload::new(Signal::Traces, out.bytes().clone()).expect("valid OTLP");
        assert_eq!(again.items(), 2);
        for rg in again.view().resources() {
            let attrs: Vec<(String, String)> = rg
                .unwrap()
                .resource()
                .unwrap()
                .attributes()
                .iter()
                .map(|kv| {
                    let (k, v) = kv.unwrap();
                    (k.to_string(), format!("{:?}", v.get().unwrap()))
                })
                .collect();
            assert_eq!(
                attrs,
                [
                    ("service.name".to_string(), "String(\"svc\")".to_string()),
                    ("kafka.header.tenant".to_string(), "String(\"a\")".to_string()),
                    ("kafka.header.env".to_string(), "String(\"prod\")".to_string()),
                ]
            );
        }
    }
}
