//! The WordPress destination: the media library over the REST API with an
//! Application Password.
//!
//! A delivery is a chain of steps, each saved when done, so a retry resumes
//! at the step that failed (a failed ACF update never uploads the image
//! again): upload → thumbnails finished (`post-process`, when the upload
//! answered 5xx after the attachment existed) → title, alt text, caption,
//! description and attachment to a post → the post's featured image → an
//! ACF image field on the post.
//!
//! Duplicates: the file name carries a short token of the queue, the job
//! and its content; when an upload's outcome is unknown, the media library is
//! searched for the token (`?search=` matches file names) before uploading
//! again, and the steps after the upload run on what is found. WordPress
//! goes on with a request after its client has gone (making a large image's
//! sub-sizes takes seconds), so a search that finds nothing is an answer
//! only once `settle_seconds` have passed since the interrupted upload
//! began; until then the job waits. Should a late copy still appear, the
//! job keeps one attachment and deletes the others bearing its token.

use super::http_outcome::{failure, transport_failure};
use super::{
    read_body, send_watched, upload_body, BoxFuture, Delivery, DeliveryError, Destination, Steps,
};
use crate::clock::{Clock, SystemClock};
use crate::model::{ErrorClass, Remote};
use crate::template::{field_text, Fields};
use reqwest::header::{HeaderMap, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The settings saved for a WordPress destination (never the password).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordPressSettings {
    /// The site's address, with its sub-path if any (`https://example.com/blog`).
    pub url: String,
    pub user: String,
    /// Sites without pretty permalinks answer REST only at `?rest_route=`.
    #[serde(default)]
    pub plain_permalinks: bool,
    /// Attach uploads to this post (an item's `post` field overrides it).
    #[serde(default)]
    pub post: Option<u64>,
    /// Make the upload the post's featured image.
    #[serde(default)]
    pub featured: bool,
    /// Also set this ACF image field on the post to the upload.
    #[serde(default)]
    pub acf_field: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// The longest the site may go on with an upload after Outbox lost it
    /// (a crash, a timeout) before the upload shows in the media library.
    #[serde(default = "default_settle")]
    pub settle_seconds: u64,
}

fn default_timeout() -> u64 {
    300
}

fn default_settle() -> u64 {
    120
}

impl WordPressSettings {
    /// Checks everything but the password (before the settings are saved).
    pub fn validate(&self) -> Result<(), DeliveryError> {
        let bad = |why: String| {
            DeliveryError::new(
                ErrorClass::Permanent,
                format!("the site address {:?} {why}", self.url),
            )
        };
        let url = reqwest::Url::parse(&self.url).map_err(|e| bad(format!("is not valid: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("is not http(s)".into()));
        }
        Ok(())
    }
}

/// What has been done for one delivery, saved after each step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Progress {
    /// When an attempt began sending the file (Unix ms).
    upload_started_at: Option<i64>,
    /// Every attachment bearing this job's token but `media_id` is deleted.
    copies_removed: bool,
    media_id: Option<u64>,
    url: Option<String>,
    /// The upload answered 5xx after the attachment existed: finish its
    /// thumbnails instead of uploading again.
    needs_post_process: bool,
    details_set: bool,
    featured_set: bool,
    acf_set: bool,
}

pub struct WordPressDestination {
    settings: WordPressSettings,
    client: reqwest::Client,
    /// `Basic …`, built once; marked sensitive so it is never logged.
    authorization: reqwest::header::HeaderValue,
    /// For `dest test`'s XML-RPC cross-check only.
    password: String,
    /// The longest a request may go without moving.
    timeout: Duration,
}

impl WordPressDestination {
    pub fn new(settings: WordPressSettings, password: Option<&str>) -> Result<Self, DeliveryError> {
        settings.validate()?;
        let password = password.ok_or_else(|| {
            DeliveryError::new(
                ErrorClass::NeedsUser,
                "the application password for this site is not in the keychain; set it again",
            )
            .about(super::SECRET_FIELD)
        })?;
        let mut authorization = reqwest::header::HeaderValue::from_str(&format!(
            "Basic {}",
            base64(format!("{}:{}", settings.user, password.replace(' ', "")).as_bytes())
        ))
        .map_err(|_| {
            DeliveryError::new(
                ErrorClass::Permanent,
                "the user name has characters a header cannot carry",
            )
        })?;
        authorization.set_sensitive(true);
        let client = super::http_client()?;
        let timeout = Duration::from_secs(settings.timeout_seconds.max(1));
        Ok(WordPressDestination {
            settings,
            client,
            authorization,
            password: password.to_string(),
            timeout,
        })
    }

    /// The address of a REST route (`/wp/v2/media`), pretty or plain.
    fn route(&self, route: &str) -> String {
        let base = self.settings.url.trim_end_matches('/');
        if self.settings.plain_permalinks {
            let (path, query) = route.split_once('?').unwrap_or((route, ""));
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("&{query}")
            };
            format!("{base}/?rest_route={path}{query}")
        } else {
            format!("{base}/wp-json{route}")
        }
    }

    async fn call(
        &self,
        what: &str,
        method: Method,
        route: &str,
        body: Option<Value>,
    ) -> Result<Value, Refusal> {
        let mut request = self
            .client
            .request(method, self.route(route))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .timeout(self.timeout);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_failure(what, &e))?;
        read_json(what, response, self.timeout).await
    }

    async fn upload(
        &self,
        d: &Delivery,
        steps: &Arc<dyn Steps>,
        progress: &mut Progress,
    ) -> Result<(), DeliveryError> {
        let name = upload_name(&d.file_name, &token(d));
        let what = format!("uploading {name} to the media library");
        let (body, activity) = upload_body(d, steps.clone()).await?;
        let request = self
            .client
            .post(self.route("/wp/v2/media"))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, &d.mime)
            // A length, not chunks: PHP and many proxies want to know it.
            .header(CONTENT_LENGTH, d.size)
            .header(
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            )
            .body(body);
        let response = send_watched(request, &activity, self.timeout, &what).await?;
        // WordPress answers once it is done with the upload, so after an
        // answer nothing is left running there to wait for; unless a gateway
        // gave up on the site (502, 504) while it went on.
        let finished_on_site = !matches!(response.status().as_u16(), 502 | 504);
        // Sent before the thumbnails are made: a 5xx while resizing leaves an
        // attachment that `post-process` can finish.
        let created = response
            .headers()
            .get("X-WP-Upload-Attachment-ID")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match read_json(&what, response, self.timeout).await {
            Ok(media) => {
                progress.media_id = media.get("id").and_then(Value::as_u64).or(created);
                progress.url = media
                    .get("source_url")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if progress.media_id.is_none() {
                    return Err(DeliveryError::new(
                        ErrorClass::Permanent,
                        format!("{what}: the answer has no media id"),
                    ));
                }
            }
            Err(e) if e.error.class == ErrorClass::Transient && created.is_some() => {
                progress.media_id = created;
                progress.needs_post_process = true;
                save(steps, progress).await?;
                return Err(e.error);
            }
            Err(e) => {
                if finished_on_site {
                    progress.upload_started_at = None;
                    save(steps, progress).await?;
                }
                if is_disallowed_type(&e) {
                    return Err(DeliveryError::new(ErrorClass::Permanent, e.error.message));
                }
                return Err(e.error);
            }
        }
        save(steps, progress).await
    }

    /// Whether the library still has the media an earlier attempt uploaded.
    async fn media_exists(&self, id: u64) -> Result<bool, DeliveryError> {
        match self
            .call(
                "looking for the uploaded media",
                Method::GET,
                &format!("/wp/v2/media/{id}?context=edit"),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code.as_deref() == Some("rest_post_invalid_id") => Ok(false),
            Err(e) => Err(e.error),
        }
    }

    /// Every attachment of this output in the media library, by its token,
    /// oldest first.
    async fn find(&self, d: &Delivery) -> Result<Vec<(u64, Option<String>)>, DeliveryError> {
        let token = token(d);
        let found = self
            .call(
                "searching the media library",
                Method::GET,
                &format!(
                    "/wp/v2/media?search={token}&per_page=100&context=edit&orderby=id&order=asc"
                ),
                None,
            )
            .await?;
        Ok(found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let file = m
                    .pointer("/media_details/file")
                    .or_else(|| m.get("source_url"))
                    .and_then(Value::as_str)?;
                if !file.contains(&token) {
                    return None;
                }
                let id = m.get("id").and_then(Value::as_u64)?;
                let url = m
                    .get("source_url")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some((id, url))
            })
            .collect())
    }

    /// Deletes the copies of this output other than `keep` (late arrivals
    /// of an upload that was sent again).
    async fn remove_copies(&self, d: &Delivery, keep: u64) -> Result<(), DeliveryError> {
        for (id, _) in self.find(d).await? {
            if id == keep {
                continue;
            }
            tracing::info!(
                job = d.job_id,
                media = id,
                kept = keep,
                "deleting a second copy"
            );
            match self
                .call(
                    "deleting a second copy of the upload",
                    Method::DELETE,
                    &format!("/wp/v2/media/{id}?force=true"),
                    None,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.code.as_deref() == Some("rest_post_invalid_id") => {}
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    /// After an interrupted upload that is not in the library (yet): how
    /// long to wait before it may be sent again, if at all.
    fn still_settling(&self, progress: &Progress) -> Option<Duration> {
        let settle_ms = i64::try_from(self.settings.settle_seconds.saturating_mul(1000));
        let settled = progress
            .upload_started_at?
            .saturating_add(settle_ms.unwrap_or(i64::MAX));
        let now = SystemClock.now_ms();
        (now < settled).then(|| Duration::from_millis((settled - now) as u64))
    }

    async fn run(&self, d: &Delivery, steps: &Arc<dyn Steps>) -> Result<Remote, DeliveryError> {
        let mut progress: Progress = steps
            .saved()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        if let Some(id) = progress.media_id {
            if !self.media_exists(id).await? {
                // Deleted from the library since the earlier attempt: the
                // saved steps describe nothing any more.
                tracing::info!(
                    job = d.job_id,
                    media = id,
                    "the uploaded media is gone; uploading again"
                );
                progress = Progress::default();
                save(steps, &progress).await?;
            }
        }
        if progress.media_id.is_none() && steps.may_have_arrived() {
            if let Some((id, url)) = self.find(d).await?.into_iter().next() {
                tracing::info!(
                    job = d.job_id,
                    media = id,
                    "an interrupted upload had arrived"
                );
                progress.media_id = Some(id);
                progress.url = url;
                save(steps, &progress).await?;
            } else if let Some(wait) = self.still_settling(&progress) {
                return Err(DeliveryError::waiting(
                    format!(
                        "an interrupted upload may still be in progress on the site; looking \
                         for it again in {} s before sending it again",
                        wait.as_secs().max(1)
                    ),
                    wait,
                ));
            }
        }
        if progress.media_id.is_none() {
            progress.upload_started_at = Some(SystemClock.now_ms());
            save(steps, &progress).await?;
            self.upload(d, steps, &mut progress).await?;
        }
        let id = progress.media_id.unwrap_or_default();
        if steps.may_have_arrived() && !progress.copies_removed {
            self.remove_copies(d, id).await?;
            progress.copies_removed = true;
            save(steps, &progress).await?;
        }
        if progress.needs_post_process {
            self.call(
                "finishing the thumbnails",
                Method::POST,
                &format!("/wp/v2/media/{id}/post-process"),
                Some(json!({"action": "create-image-subsizes"})),
            )
            .await?;
            progress.needs_post_process = false;
            save(steps, &progress).await?;
        }
        let post = post_of(d.fields.as_ref()).or(self.settings.post);
        if !progress.details_set {
            let mut details = details_of(d);
            if let Some(post) = post {
                details["post"] = json!(post);
            }
            let media = self
                .call(
                    "setting the title, alt text and caption",
                    Method::POST,
                    &format!("/wp/v2/media/{id}"),
                    Some(details),
                )
                .await?;
            if let Some(url) = media.get("source_url").and_then(Value::as_str) {
                progress.url = Some(url.to_string());
            }
            progress.details_set = true;
            save(steps, &progress).await?;
        }
        if let Some(post) = post {
            if self.settings.featured && !progress.featured_set {
                self.call(
                    &format!("making it the featured image of post {post}"),
                    Method::POST,
                    &format!("/wp/v2/posts/{post}"),
                    Some(json!({"featured_media": id})),
                )
                .await?;
                progress.featured_set = true;
                save(steps, &progress).await?;
            }
            if let Some(field) = &self.settings.acf_field {
                if !progress.acf_set {
                    let updated = self
                        .call(
                            &format!("setting the ACF field {field:?} of post {post}"),
                            Method::POST,
                            &format!("/wp/v2/posts/{post}"),
                            Some(json!({"acf": {field: id}})),
                        )
                        .await?;
                    if updated.pointer(&format!("/acf/{field}")).is_none() {
                        return Err(DeliveryError::new(
                            ErrorClass::NeedsUser,
                            format!(
                                "the post has no ACF field {field:?} in the REST API (is the field \
                                 group shown in REST?)"
                            ),
                        ));
                    }
                    progress.acf_set = true;
                    save(steps, &progress).await?;
                }
            }
        }
        Ok(Remote {
            id: Some(id.to_string()),
            url: progress.url,
        })
    }
}

impl WordPressDestination {
    /// Reachability, then the credentials.
    async fn check_site(&self) -> Result<String, DeliveryError> {
        let site = &self.settings.url;
        let index = self
            .client
            .get(self.route("/"))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport_failure(&format!("reaching {site}"), &e).about("url"))?;
        let status = index.status();
        let body = index.bytes().await.unwrap_or_default();
        let is_rest = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("namespaces").cloned())
            .is_some_and(|n| n.as_array().is_some_and(|n| n.iter().any(|n| n == "wp/v2")));
        if !is_rest {
            let hint = if self.settings.plain_permalinks {
                ""
            } else {
                " (a site without pretty permalinks needs --plain-permalinks)"
            };
            return Err(DeliveryError::new(
                ErrorClass::NeedsUser,
                format!("{site} has no WordPress REST API (it answered {status}){hint}"),
            )
            .about("url"));
        }
        let me = self
            .client
            .get(self.route("/wp/v2/users/me?context=edit"))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport_failure(&format!("signing in to {site}"), &e).about("url"))?;
        let status = me.status();
        let body = me.bytes().await.unwrap_or_default();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let code = json.get("code").and_then(Value::as_str).unwrap_or("");
        let user = &self.settings.user;
        match (status.as_u16(), code) {
            (200, _) => {
                let may_upload = json
                    .pointer("/capabilities/upload_files")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if may_upload {
                    Ok(format!(
                        "signed in to {site} as {user:?}, who may upload files"
                    ))
                } else {
                    Err(DeliveryError::new(
                        ErrorClass::NeedsUser,
                        format!("{user:?} signs in to {site} but may not upload files (give the user the Author role or above)"),
                    )
                    .about("user"))
                }
            }
            (401, _) => Err(self.explain_refusal().await),
            (403, _) => Err(DeliveryError::new(
                ErrorClass::NeedsUser,
                format!(
                    "{site} refused the credentials of {user:?}: {}",
                    super::http_outcome::server_reason(&body)
                ),
            )
            .about(super::SECRET_FIELD)),
            _ => Err(failure(
                &format!("signing in to {site}"),
                status,
                &HeaderMap::new(),
                &body,
            )),
        }
    }
}

impl WordPressDestination {
    /// The REST API answers the same 401 to a wrong password and to a request
    /// whose Authorization header the web server dropped. XML-RPC takes the
    /// same application password in the request body, which hosts do not
    /// strip: its answer tells the two apart.
    async fn explain_refusal(&self) -> DeliveryError {
        let site = &self.settings.url;
        let user = &self.settings.user;
        let password = self.password.as_str();
        let call = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>wp.getUsersBlogs</methodName>\
             <params><param><value><string>{}</string></value></param>\
             <param><value><string>{}</string></value></param></params></methodCall>",
            xml_escape(user),
            xml_escape(password)
        );
        let url = format!("{}/xmlrpc.php", site.trim_end_matches('/'));
        let answer = match self
            .client
            .post(url)
            .header(CONTENT_TYPE, "text/xml")
            .timeout(self.timeout)
            .body(call)
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let needs_user = |message: String| DeliveryError::new(ErrorClass::NeedsUser, message);
        if answer.contains("<methodResponse>") && answer.contains("<name>isAdmin</name>") {
            // The password is right: the site (its web server) is to fix.
            needs_user(format!(
                "{site} never receives the credentials: the password is right, but the web \
                 server strips the Authorization header (on Apache, add `SetEnvIf \
                 Authorization \"(.*)\" HTTP_AUTHORIZATION=$1` to .htaccess)"
            ))
            .about("url")
        } else if answer.contains("<fault>") && answer.contains("<int>403</int>") {
            needs_user(format!(
                "{site} refused the user name {user:?} or its application password; make a \
                 new one under Users → Profile → Application Passwords"
            ))
            .about(super::SECRET_FIELD)
        } else {
            needs_user(format!(
                "{site} refused the credentials of {user:?}: either the application password \
                 is wrong or the web server strips the Authorization header (XML-RPC is off, \
                 so Outbox cannot tell which)"
            ))
            .about(super::SECRET_FIELD)
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Destination for WordPressDestination {
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move { self.run(delivery, &steps).await })
    }

    /// Always "not known here": `deliver` itself looks for an interrupted
    /// upload by its token (`Steps::may_have_arrived`), so that the steps
    /// after the upload (title, featured image…) still run on what it finds.
    fn reconcile<'a>(
        &'a self,
        _delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async { Ok(None) })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(self.check_site())
    }
}

/// A failed call: the classified failure, and WordPress's own error code
/// when the answer carried one (`rest_post_invalid_id`…), to decide on.
struct Refusal {
    error: DeliveryError,
    code: Option<String>,
}

impl From<DeliveryError> for Refusal {
    fn from(error: DeliveryError) -> Self {
        Refusal { error, code: None }
    }
}

impl From<Refusal> for DeliveryError {
    fn from(refusal: Refusal) -> Self {
        refusal.error
    }
}

/// Reads a JSON answer; a non-success status is a classified failure.
async fn read_json(
    what: &str,
    response: reqwest::Response,
    limit: Duration,
) -> Result<Value, Refusal> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(response, limit, what).await?;
    let value = serde_json::from_slice::<Value>(&body);
    if !status.is_success() {
        let code = value
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string));
        return Err(Refusal {
            error: failure(what, status, &headers, &body),
            code,
        });
    }
    Ok(value.map_err(|e| {
        DeliveryError::new(
            ErrorClass::Transient,
            format!("{what}: the answer is not JSON ({e}); is this a WordPress site?"),
        )
    })?)
}

/// WordPress answers 500 `rest_upload_sideload_error` for a file type the
/// site does not allow, which retrying cannot help, but also when it could
/// not make its uploads folder or write the file (two uploads racing to make
/// this month's folder, a full disk), which can pass: only the file-type
/// refusal is permanent.
fn is_disallowed_type(refusal: &Refusal) -> bool {
    refusal.code.as_deref() == Some("rest_upload_sideload_error")
        && refusal.error.message.contains("file type")
}

async fn save(steps: &Arc<dyn Steps>, progress: &Progress) -> Result<(), DeliveryError> {
    steps
        .save(serde_json::to_value(progress).unwrap_or(Value::Null))
        .await
}

/// The token that marks this job's upload in its file name: `ob` and 10 hex
/// digits.
fn token(d: &Delivery) -> String {
    // The queue and the job as well as the bytes: the same image sent by
    // two jobs, of this queue or of another Outbox sending to the same site,
    // is two uploads, and one job's search never finds (nor deletes) the
    // other's.
    let mut hasher = blake3::Hasher::new();
    hasher.update(d.queue_id.as_bytes());
    hasher.update(&d.hash);
    hasher.update(&d.job_id.to_le_bytes());
    let hex: String = hasher.finalize().as_bytes()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ob{hex}")
}

/// The file name WordPress receives: plain ASCII (the raw-body upload reads
/// only `filename="…"`), with the token before the extension.
pub(crate) fn upload_name(file_name: &str, token: &str) -> String {
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (file_name, "jpg"),
    };
    let ascii = |s: &str| -> String {
        let mut out = String::new();
        for c in s.chars() {
            match fold_to_ascii(c) {
                Some(a) => out.push_str(a),
                None if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => out.push(c),
                None if !out.ends_with('-') => out.push('-'),
                None => {}
            }
        }
        out.trim_matches(['-', '.']).to_string()
    };
    let mut stem = ascii(stem);
    stem.truncate(80);
    let stem = if stem.is_empty() {
        "image".into()
    } else {
        stem
    };
    let ext = ascii(ext).to_ascii_lowercase();
    format!("{stem}-{token}.{ext}")
}

/// Latin letters with accents to their base letters.
fn fold_to_ascii(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' => "c",
        'Ç' => "C",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'È' | 'É' | 'Ê' | 'Ë' => "E",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' => "I",
        'ñ' => "n",
        'Ñ' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
        'ý' | 'ÿ' => "y",
        'ß' => "ss",
        _ => return None,
    })
}

/// The post an item names in its `post` field, if any.
fn post_of(fields: Option<&Fields>) -> Option<u64> {
    field_text(fields?, "post")?.trim().parse().ok()
}

/// Title, alt text, caption and description from the item's fields; the
/// title falls back to the file's stem.
fn details_of(d: &Delivery) -> Value {
    let field = |names: &[&str]| {
        let fields = d.fields.as_ref()?;
        names.iter().find_map(|n| field_text(fields, n))
    };
    let stem = d
        .file_name
        .rsplit_once('.')
        .map_or(d.file_name.as_str(), |(s, _)| s);
    let mut details = json!({ "title": field(&["title"]).unwrap_or_else(|| stem.to_string()) });
    for (key, names) in [
        ("alt_text", &["alt_text", "alt"][..]),
        ("caption", &["caption"][..]),
        ("description", &["description"][..]),
    ] {
        if let Some(value) = field(names) {
            details[key] = json!(value);
        }
    }
    details
}

/// The forms the application password travels in: as typed, without its
/// spaces (as sent), and inside the `Basic` credentials.
pub(super) fn secret_forms(user: &str, password: &str) -> Vec<String> {
    let compact = password.replace(' ', "");
    let basic = base64(format!("{user}:{compact}").as_bytes());
    vec![password.to_string(), compact, basic]
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refused_file_type_is_permanent() {
        let answer = |message: &str| {
            Refusal {
            error: DeliveryError::new(
                ErrorClass::Transient,
                format!("uploading: the server answered 500 Internal Server Error: {message} (rest_upload_sideload_error)"),
            ),
            code: Some("rest_upload_sideload_error".into()),
        }
        };
        assert!(is_disallowed_type(&answer(
            "Sorry, you are not allowed to upload this file type."
        )));
        assert!(!is_disallowed_type(&answer(
            "Unable to create directory wp-content/uploads/2026/11. Is its parent directory writable by the server?"
        )));
    }

    #[test]
    fn upload_names_are_plain_ascii_with_the_token() {
        assert_eq!(
            upload_name("Été à Paris.JPG", "ob1234"),
            "Ete-a-Paris-ob1234.jpg"
        );
        assert_eq!(upload_name("東京.png", "ob1"), "image-ob1.png");
        assert_eq!(upload_name("a\"b\\c.jpg", "ob1"), "a-b-c-ob1.jpg");
    }

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn routes_follow_the_permalink_style_and_sub_path() {
        let settings = WordPressSettings {
            url: "http://127.0.0.1:8080/blog/".into(),
            user: "editor".into(),
            plain_permalinks: false,
            post: None,
            featured: false,
            acf_field: None,
            timeout_seconds: 5,
            settle_seconds: 1,
        };
        let pretty = WordPressDestination::new(settings.clone(), Some("abcd efgh")).unwrap();
        assert_eq!(
            pretty.route("/wp/v2/media"),
            "http://127.0.0.1:8080/blog/wp-json/wp/v2/media"
        );
        let plain = WordPressDestination::new(
            WordPressSettings {
                plain_permalinks: true,
                ..settings
            },
            Some("x"),
        )
        .unwrap();
        assert_eq!(
            plain.route("/wp/v2/media?search=ob1"),
            "http://127.0.0.1:8080/blog/?rest_route=/wp/v2/media&search=ob1"
        );
    }
}
