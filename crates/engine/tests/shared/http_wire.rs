//! The HTTP/1.1 wire as the loopback test servers read it: a request head,
//! and the parts of a `multipart/form-data` body.
#![allow(dead_code)]

use std::io;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

/// One request as a server read it (header names in lower case).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request line and headers, up to the blank line; the body is left to
/// the caller.
pub async fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut words = line.split_whitespace().map(str::to_string);
    let method = words.next().unwrap_or_default();
    let path = words.next().unwrap_or_default();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let (name, value) = text.split_once(':').unwrap_or((text, ""));
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method,
        path,
        headers,
        body: Vec::new(),
        at: Instant::now(),
    })
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// A minimal multipart split: enough for what reqwest writes.
pub fn form_parts(request: &Request) -> Vec<Part> {
    let content_type = request.header("content-type").expect("a content type");
    assert!(
        content_type.starts_with("multipart/form-data;"),
        "{content_type}"
    );
    let boundary = content_type.split_once("boundary=").expect("a boundary").1;
    let delimiter = format!("\r\n--{}", boundary.trim_matches('"')).into_bytes();
    // A leading CRLF makes the first delimiter look like the others.
    let body = [b"\r\n".as_slice(), &request.body].concat();
    let start = find(&body, &delimiter).expect("a first boundary");
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a boundary");
        let end = find(rest, &delimiter).expect("a closing boundary");
        let part = &rest[..end];
        let head_end = find(part, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8(part[..head_end].to_vec()).unwrap();
        let mut found = Part {
            name: String::new(),
            file_name: None,
            content_type: None,
            data: part[head_end + 4..].to_vec(),
        };
        for line in head.lines() {
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    found.name = param(value, "name").unwrap_or_default();
                    found.file_name = param(value, "filename");
                }
                "content-type" => found.content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        parts.push(found);
        rest = &rest[end + delimiter.len()..];
    }
    parts
}

/// `key="value"` from a `Content-Disposition` value.
fn param(header: &str, key: &str) -> Option<String> {
    let start = header.find(&format!("; {key}=\""))? + key.len() + 4;
    let len = header[start..].find('"')?;
    Some(header[start..start + len].to_string())
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
