//! `cachescope mark`: a marker (a deploy, a config change) into the traffic of a running instance, through its
//! HTTP API (`POST /api/markers`). An anomaly that starts right after it says so.

use anyhow::Result;

use crate::cli::MarkArgs;
use crate::exit::{Exit, NoPermission, Unavailable, UsageError};

pub fn run(args: &MarkArgs) -> Result<Exit> {
    let url = format!("{}/api/markers", args.url.trim_end_matches('/'));
    let mut request = ureq::post(&url);
    if let Some(token) = &args.http_token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let body = serde_json::json!({ "kind": args.kind, "note": args.note });
    match request.config().http_status_as_error(false).build().send_json(&body) {
        Ok(response) => match response.status().as_u16() {
            200..=299 => {
                let label =
                    if args.note.is_empty() { args.kind.clone() } else { format!("{} {}", args.kind, args.note) };
                eprintln!("marker `{label}` added at {}", args.url);
                Ok(Exit::Success)
            }
            401 => Err(NoPermission(format!(
                "{} wants a bearer token: give --http-token (or CACHESCOPE_HTTP_TOKEN), the one it was started with",
                args.url
            ))
            .into()),
            400 => Err(UsageError("the marker was refused: one line of at most 200 bytes".into()).into()),
            status => {
                Err(Unavailable(format!("{url} answered {status}: is it a cachescope instance with --http?")).into())
            }
        },
        Err(error) => Err(Unavailable(format!(
            "cannot reach {}: {error} (is the instance running with --http on that address?)",
            args.url
        ))
        .into()),
    }
}
