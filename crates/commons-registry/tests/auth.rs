//! The auth middleware in front of `/v2` and stand-ins for the other APIs.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use common::{request, Node, Reply};
use commons_registry::auth::{protect, AuthPolicy, ANONYMOUS_TOKEN};
use commons_store::{Scope, Store};
use tower::ServiceExt;

/// A node whose `/v2`, `/api` and `/v1` routes sit behind the auth layer.
struct Guarded {
    node: Node,
    app: Router,
}

impl Guarded {
    fn new(policy: AuthPolicy) -> Guarded {
        let node = Node::new();
        let routes = commons_registry::router(node.store.clone())
            .route("/api/tags", get(|| async { "tags" }))
            .route("/api/create", post(|| async { "created" }))
            .route("/api/chat", post(|| async { "chat" }))
            .route("/v1/models", get(|| async { "models" }));
        let app = protect(routes, node.store.clone(), policy);
        Guarded { node, app }
    }

    fn token(&self, name: &str, scopes: &[Scope]) -> String {
        self.node.store.create_token(name, scopes).unwrap().0
    }

    async fn send(&self, method: Method, uri: &str, auth: Option<&str>) -> Reply {
        let mut builder = request(method, uri);
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        let response = self
            .app
            .clone()
            .oneshot(builder.body(Body::empty()).unwrap())
            .await
            .unwrap();
        Reply::from_response(response).await
    }
}

fn store_of(g: &Guarded) -> &Arc<Store> {
    &g.node.store
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

const REALM: &str = "Bearer realm=\"http://node.test:5000/v2/token\",service=\"commons\"";

#[tokio::test]
async fn without_push_tokens_a_node_accepts_anonymous_writes() {
    let g = Guarded::new(AuthPolicy::default());
    assert_eq!(
        g.send(Method::GET, "/v2/", None).await.status,
        StatusCode::OK
    );
    let upload = g.send(Method::POST, "/v2/m/blobs/uploads/", None).await;
    assert_eq!(upload.status, StatusCode::ACCEPTED);
    assert_eq!(
        g.send(Method::POST, "/api/create", None).await.status,
        StatusCode::OK
    );

    // A pull-only token does not change that: only push/delete tokens do.
    g.token("reader", &[Scope::Pull]);
    let upload = g.send(Method::POST, "/v2/m/blobs/uploads/", None).await;
    assert_eq!(upload.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn once_a_push_token_exists_writes_need_it_and_get_the_challenge() {
    let g = Guarded::new(AuthPolicy::default());
    let pusher = g.token("ci", &[Scope::Pull, Scope::Push]);

    let refused = g.send(Method::POST, "/v2/org/m/blobs/uploads/", None).await;
    refused.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        refused.header("www-authenticate"),
        format!("{REALM},scope=\"repository:org/m:pull,push\"")
    );
    // The version check challenges too, so clients log in before pushing.
    let ping = g.send(Method::GET, "/v2/", None).await;
    assert_eq!(ping.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ping.header("www-authenticate"), REALM);
    // Reads stay anonymous.
    let read = g.send(Method::GET, "/v2/org/m/tags/list", None).await;
    read.expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    assert_eq!(
        g.send(Method::GET, "/api/tags", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        g.send(Method::POST, "/api/chat", None).await.status,
        StatusCode::OK
    );

    // The token, as Bearer or as the password of Basic auth.
    for auth in [bearer(&pusher), basic("anyone", &pusher)] {
        let ok = g
            .send(Method::POST, "/v2/org/m/blobs/uploads/", Some(&auth))
            .await;
        assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text());
        assert_eq!(
            g.send(Method::GET, "/v2/", Some(&auth)).await.status,
            StatusCode::OK
        );
    }

    // Other APIs refuse in their own shape, with the same challenge.
    let ollama = g.send(Method::POST, "/api/create", None).await;
    assert_eq!(ollama.status, StatusCode::UNAUTHORIZED);
    assert!(ollama.json()["error"].as_str().unwrap().contains("push"));
    assert_eq!(ollama.header("www-authenticate"), REALM);
    let ok = g
        .send(Method::POST, "/api/create", Some(&bearer(&pusher)))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_without_the_scope_is_denied_and_an_unknown_one_unauthorized() {
    let g = Guarded::new(AuthPolicy::default());
    let reader = g.token("reader", &[Scope::Pull]);
    let pusher = g.token("pusher", &[Scope::Push]);
    let deleter = g.token("deleter", &[Scope::Delete]);

    let denied = g
        .send(Method::POST, "/v2/m/blobs/uploads/", Some(&bearer(&reader)))
        .await;
    denied.expect_error(StatusCode::FORBIDDEN, "DENIED");
    assert!(denied.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`reader`"));
    let delete = g
        .send(
            Method::DELETE,
            "/v2/m/manifests/latest",
            Some(&bearer(&pusher)),
        )
        .await;
    delete.expect_error(StatusCode::FORBIDDEN, "DENIED");
    // With `delete`, the request reaches the registry (nothing there to delete).
    let delete = g
        .send(
            Method::DELETE,
            "/v2/m/manifests/latest",
            Some(&bearer(&deleter)),
        )
        .await;
    delete.expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");

    let unknown = g
        .send(Method::GET, "/v2/m/tags/list", Some(&bearer("cmn_0000")))
        .await;
    unknown.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert!(unknown.has_header("www-authenticate"));

    // Revoking takes effect at once.
    assert!(store_of(&g).revoke_token("pusher").unwrap());
    g.send(Method::POST, "/v2/m/blobs/uploads/", Some(&bearer(&pusher)))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let v1 = g
        .send(Method::GET, "/v1/models", Some(&bearer(&pusher)))
        .await;
    assert_eq!(v1.status, StatusCode::UNAUTHORIZED);
    assert_eq!(v1.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn the_token_endpoint_hands_back_valid_tokens_and_anonymous_placeholders() {
    let g = Guarded::new(AuthPolicy::default());
    let pusher = g.token("ci", &[Scope::Push]);
    let uri = "/v2/token?service=commons&scope=repository:m:pull,push";

    for auth in [basic("user", &pusher), bearer(&pusher)] {
        let reply = g.send(Method::GET, uri, Some(&auth)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["token"], pusher.as_str());
        assert_eq!(body["access_token"], pusher.as_str());
        assert!(body["expires_in"].as_u64().unwrap() >= 60);
    }
    let wrong = g
        .send(Method::GET, uri, Some(&basic("user", "cmn_nope")))
        .await;
    wrong.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert!(wrong.header("www-authenticate").starts_with("Basic"));

    // No credentials: the anonymous placeholder, which reads but does not write.
    let anonymous = g.send(Method::GET, uri, None).await;
    assert_eq!(anonymous.json()["token"], ANONYMOUS_TOKEN);
    let placeholder = bearer(ANONYMOUS_TOKEN);
    assert_eq!(
        g.send(Method::GET, "/v2/_catalog", Some(&placeholder))
            .await
            .status,
        StatusCode::OK
    );
    g.send(Method::POST, "/v2/m/blobs/uploads/", Some(&placeholder))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // The OAuth2 form some clients POST.
    let form = format!("grant_type=password&service=commons&username=u&password={pusher}");
    let response = g
        .app
        .clone()
        .oneshot(
            request(Method::POST, "/v2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    let reply = Reply::from_response(response).await;
    assert_eq!(reply.json()["access_token"], pusher.as_str());
}

#[tokio::test]
async fn require_auth_refuses_writes_even_before_any_token_exists() {
    let g = Guarded::new(AuthPolicy {
        anonymous_reads: true,
        require_auth: true,
    });
    let refused = g.send(Method::PUT, "/v2/m/manifests/latest", None).await;
    refused.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let message = refused.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("commons token create NAME --scope push"),
        "{message}"
    );
    let ollama = g.send(Method::POST, "/api/create", None).await;
    assert!(ollama.json()["error"]
        .as_str()
        .unwrap()
        .contains("commons token create"));
    assert_eq!(
        g.send(Method::GET, "/api/tags", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_anonymous_reads_off_every_read_needs_a_token() {
    let g = Guarded::new(AuthPolicy {
        anonymous_reads: false,
        require_auth: false,
    });
    let refused = g.send(Method::GET, "/v2/m/manifests/latest", None).await;
    refused.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        refused.header("www-authenticate"),
        format!("{REALM},scope=\"repository:m:pull\"")
    );
    assert_eq!(
        g.send(Method::GET, "/v2/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        g.send(Method::GET, "/api/tags", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        g.send(Method::POST, "/api/chat", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let v1 = g.send(Method::GET, "/v1/models", None).await;
    assert_eq!(v1.status, StatusCode::UNAUTHORIZED);
    g.send(Method::GET, "/v2/_catalog", Some(&bearer(ANONYMOUS_TOKEN)))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    g.send(Method::GET, "/v2/token?service=commons", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // Any valid token reads; push implies pull.
    let reader = g.token("reader", &[Scope::Pull]);
    let pusher = g.token("pusher", &[Scope::Push]);
    for secret in [&reader, &pusher] {
        let reply = g
            .send(Method::GET, "/api/tags", Some(&bearer(secret)))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let reply = g
            .send(
                Method::GET,
                "/v2/m/manifests/latest",
                Some(&basic("u", secret)),
            )
            .await;
        reply.expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    }
}

#[tokio::test]
async fn manifest_pushes_and_deletes_are_audited_with_the_token_name() {
    let g = Guarded::new(AuthPolicy::default());
    let secret = g.token("ci", &[Scope::Push, Scope::Delete]);
    let empty = store_of(&g).ingest_bytes(b"{}").unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/x.commons.test",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.digest.as_str(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.digest.as_str(), "size": 2}],
    });
    let put = request(Method::PUT, "/v2/art/manifests/v1")
        .header(header::AUTHORIZATION, bearer(&secret))
        .header(
            header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .body(Body::from(serde_json::to_vec(&manifest).unwrap()))
        .unwrap();
    let reply = Reply::from_response(g.app.clone().oneshot(put).await.unwrap()).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let deleted = g
        .send(
            Method::DELETE,
            "/v2/art/manifests/v1",
            Some(&bearer(&secret)),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);

    let log = store_of(&g).audit_entries(0, None).unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.subject.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("ci", "push", Some("art:v1")),
            ("ci", "delete", Some("art:v1"))
        ]
    );
    assert!(log[0]
        .digest
        .as_deref()
        .is_some_and(|d| d.starts_with("sha256:")));
}

#[tokio::test]
async fn an_api_key_that_is_not_a_commons_token_does_not_stop_anonymous_reads() {
    // OpenAI clients always send `Authorization: Bearer <api key>`.
    let open = Guarded::new(AuthPolicy::default());
    let read = open
        .send(Method::GET, "/v2/m/tags/list", Some(&bearer("sk-anything")))
        .await;
    read.expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");

    let closed = Guarded::new(AuthPolicy {
        anonymous_reads: false,
        ..AuthPolicy::default()
    });
    let read = closed
        .send(Method::GET, "/v2/m/tags/list", Some(&bearer("sk-anything")))
        .await;
    read.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}
