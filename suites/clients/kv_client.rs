//! A faultline client (protocol 1) for the kv fixture in Rust, std and
//! serde_json only: `kv-client HOST:PORT`. One operation at a time.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

/// One HTTP/1.1 exchange: the status and the body parsed as JSON.
fn http(addr: &str, method: &str, path: &str, body: &Value) -> std::io::Result<(u16, Value)> {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
                    content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn answer(addr: &str, op: &Value) -> Value {
    let marker = op["marker"].as_str().unwrap_or_default();
    let exchange = match op["op"].as_str().unwrap_or_default() {
        "put" => http(
            addr,
            "PUT",
            &format!("/kv/{}", op["key"].as_str().unwrap_or_default()),
            &op["value"],
        ),
        "probe_write" => http(addr, "PUT", &format!("/kv/probe-{marker}"), &json!(marker)),
        "probe_read" => http(addr, "GET", &format!("/kv/probe-{marker}"), &Value::Null),
        "final_read" => http(addr, "GET", "/state", &Value::Null),
        other => return json!({"outcome": "fail", "detail": format!("unknown op {other}")}),
    };
    match exchange {
        // A final read's state is the whole body; other answers carry the key's value.
        Ok((200, body)) if op["op"] == "final_read" => json!({"outcome": "ok", "value": body}),
        Ok((200, body)) => json!({"outcome": "ok", "value": body["value"]}),
        Ok((status, _)) => json!({"outcome": "fail", "detail": format!("HTTP {status}")}),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            json!({"outcome": "fail", "detail": e.to_string()})
        }
        Err(e) => json!({"outcome": "unknown", "detail": e.to_string()}),
    }
}

fn main() {
    let addr = std::env::args().nth(1).expect("usage: kv-client HOST:PORT");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", json!({"protocol": 1}))
        .and_then(|()| out.flush())
        .expect("stdout");
    for line in std::io::stdin().lock().lines() {
        let Ok(op) = serde_json::from_str::<Value>(&line.expect("stdin")) else {
            continue;
        };
        let mut reply = answer(&addr, &op);
        reply["id"] = op["id"].clone();
        writeln!(out, "{reply}")
            .and_then(|()| out.flush())
            .expect("stdout");
    }
}
