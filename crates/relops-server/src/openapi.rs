//! The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`), generated from the route
//! table (`routes/table.rs`: every path and method, what it needs, what it takes and
//! answers) and from the `relops-api` types themselves (their JSON Schemas, derived with
//! `schemars`): the document cannot name a route that does not exist nor describe a body
//! other than the one the handler returns.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::routes::spec::{Access, Body, RouteSpec};

fn content(body: Body, generator: &mut SchemaGenerator) -> Option<Value> {
    match body {
        Body::None => None,
        Body::Json(schema) => {
            Some(json!({ "application/json": { "schema": schema(generator).to_value() } }))
        }
        Body::Media(media) => Some(json!({ media: {} })),
    }
}

fn error_response(description: &str, error: &Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": error } },
    })
}

/// The document of `routes` (the route table).
pub fn document(routes: &[RouteSpec]) -> Value {
    let mut generator: SchemaGenerator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let error = generator
        .subschema_for::<relops_api::ErrorBody>()
        .to_value();
    let mut paths: Map<String, Value> = Map::new();
    for r in routes {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if r.path.starts_with("/v1/") && matches!(r.access, Access::Permission(_)) {
            params.push(json!({
                "name": "product", "in": "query", "required": false,
                "description": "the product (optional while the server has one)",
                "schema": { "type": "string" },
            }));
        }
        let mut ok = json!({ "description": "success" });
        if let Some(c) = content(r.response, &mut generator) {
            ok["content"] = c;
        }
        let mut responses = Map::new();
        responses.insert(r.status.to_string(), ok);
        if r.path == "/v1/update" {
            responses.insert(
                "204".into(),
                json!({ "description": "no update for this install" }),
            );
        }
        responses.insert(
            "400".into(),
            error_response("malformed input; the body says what to fix", &error),
        );
        responses.insert("404".into(), error_response("not found", &error));
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.to_ascii_lowercase(), r.path.replace(['/', '{', '}'], "_")),
            "parameters": params,
        });
        if let Some(c) = content(r.request, &mut generator) {
            op["requestBody"] = json!({ "required": true, "content": c });
        }
        match r.access {
            Access::Public => op["security"] = json!([]),
            Access::IngestKey => {
                op["security"] = json!([]);
                op["x-relops-auth"] = json!(
                    "ingest key (X-Sentry-Auth sentry_key, ?sentry_key= or X-Relops-Ingest-Key)"
                );
                responses.insert(
                    "401".into(),
                    error_response("no or unknown ingest key", &error),
                );
                responses.insert(
                    "429".into(),
                    error_response(
                        "over the ingest rate limits; retry after Retry-After",
                        &error,
                    ),
                );
            }
            Access::Token => {
                responses.insert("401".into(), error_response("no or unknown token", &error));
            }
            Access::Permission(p) => {
                op["x-relops-permission"] = json!(p.as_str());
                responses.insert("401".into(), error_response("no or unknown token", &error));
                responses.insert(
                    "403".into(),
                    error_response(&format!("the token's roles lack `{p}`"), &error),
                );
                responses.insert(
                    "409".into(),
                    error_response(
                        "refused by a rule, or changed meanwhile; the body says which",
                        &error,
                    ),
                );
            }
        }
        op["responses"] = Value::Object(responses);
        paths
            .entry(r.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.to_ascii_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "relops",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Release operations for desktop applications. Errors are `ErrorBody`: {\"code\", \"error\"}.",
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": generator.take_definitions(true),
        },
        "security": [ { "bearer": [] } ],
        "paths": paths,
    })
}
