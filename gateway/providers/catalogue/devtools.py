"""Presets of developer tools: source hosting, issue tracking, monitoring, deployment."""

from __future__ import annotations

from gateway.providers.preset import Mapping, Preset, sample
from gateway.verify.hmac import HmacSpec

_REPO = ('"repository":{"id":1,"full_name":"octo/hello","name":"hello"},'
         '"sender":{"login":"octo","id":1}')

GITLAB = Preset(
    name="gitlab", title="GitLab",
    docs="https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
    token="X-Gitlab-Token",
    mapping=Mapping(type=("/object_kind", "/event_name"), action="/object_attributes/action",
                    id=("header:Idempotency-Key", "header:X-Gitlab-Event-UUID"),
                    subject=("/project/path_with_namespace",),
                    time=("/object_attributes/updated_at",)),
    samples={"push": sample(
        '{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22",'
        '"after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","user_id":4,'
        '"user_username":"jsmith","project_id":15,"project":{"id":15,"name":"Diaspora",'
        '"path_with_namespace":"mike/diaspora","default_branch":"main"},"total_commits_count":1}',
        X_Gitlab_Event="Push Hook", X_Gitlab_Event_UUID="$UUID", X_Gitlab_Webhook_UUID="$UUID",
        Idempotency_Key="$UUID", X_Gitlab_Instance="https://gitlab.example.com")},
    checked="no signature: the secret token is compared as GitLab's docs describe",
)

BITBUCKET = Preset(
    name="bitbucket", title="Bitbucket Cloud",
    docs="https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks",
    hmac=HmacSpec(header="X-Hub-Signature", prefix="sha256=", require_prefix=True),
    mapping=Mapping(type=("header:X-Event-Key",), id=("header:X-Request-UUID",),
                    subject=("/repository/full_name",)),
    samples={"repo:push": sample(
        '{"push":{"changes":[{"new":{"type":"branch","name":"main"},"created":false}]},'
        '"repository":{"type":"repository","full_name":"team/repo","uuid":"{$UUID}"},'
        '"actor":{"display_name":"Emma","type":"user"}}',
        X_Event_Key="repo:push", X_Request_UUID="$UUID", X_Hook_UUID="$UUID")},
    checked="signed independently (`sha256=` hex HMAC-SHA256 of the body)",
)

JIRA = Preset(
    name="jira", title="Jira Cloud (Atlassian)",
    docs="https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
    hmac=HmacSpec(header="X-Hub-Signature", prefix="sha256=", require_prefix=True),
    mapping=Mapping(type=("/webhookEvent",), id=("header:X-Atlassian-Webhook-Identifier",),
                    subject=("/issue/key", "/project/key"), time=("/timestamp",)),
    samples={"jira:issue_created": sample(
        '{"timestamp":$NOW_MS,"webhookEvent":"jira:issue_created","issue_event_type_name":'
        '"issue_created","user":{"accountId":"5b10a2844c20165700ede21g"},"issue":{"id":"99291",'
        '"key":"JRA-20002","fields":{"summary":"I feel the need for speed"}}}',
        X_Atlassian_Webhook_Identifier="$NOW")},
    checked="signed independently (`sha256=` hex HMAC-SHA256 of the body, WebSub style)",
)

SENTRY = Preset(
    name="sentry", title="Sentry (integration platform)",
    docs="https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
    hmac=HmacSpec(header="Sentry-Hook-Signature"),
    mapping=Mapping(type=("header:Sentry-Hook-Resource",), action="/action",
                    id=("header:Request-ID",),
                    subject=("/data/issue/id", "/data/error/event_id", "/data/event/event_id"),
                    time=("header:Sentry-Hook-Timestamp",), tenant=("/installation/uuid",)),
    samples={"issue.created": sample(
        '{"action":"created","installation":{"uuid":"7a485448-a9e2-4c85-8a3c-4f44175783c9"},'
        '"data":{"issue":{"id":"1170820242","shortId":"SENTRY-1","title":"Error: boom",'
        '"status":"unresolved","project":{"slug":"front-end"}}},"actor":{"type":"application",'
        '"id":"sentry","name":"Sentry"}}',
        Sentry_Hook_Resource="issue", Sentry_Hook_Timestamp="$NOW", Request_ID="$UUID")},
    checked="signed independently (hex HMAC-SHA256 of the body with the client secret)",
)

VERCEL = Preset(
    name="vercel", title="Vercel",
    docs="https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
    hmac=HmacSpec(header="x-vercel-signature", algorithm="sha1"),
    mapping=Mapping(type=("/type",), id=("/id",),
                    subject=("/payload/deployment/id", "/payload/project/id"),
                    time=("/createdAt",), tenant=("/payload/team/id",)),
    samples={"deployment.created": sample(
        '{"id":"$ID","type":"deployment.created","createdAt":$NOW_MS,"region":"sfo1",'
        '"payload":{"team":{"id":"team_$ID"},"user":{"id":"usr_$ID"},"deployment":{"id":'
        '"dpl_$ID","url":"my-app-abc123.vercel.app","name":"my-app"},"project":{"id":"prj_$ID"},'
        '"target":"production"}}')},
    checked="signed independently (hex HMAC-SHA1 of the body, Vercel's documented recipe)",
)

LINEAR = Preset(
    name="linear", title="Linear",
    docs="https://linear.app/developers/webhooks#securing-webhooks",
    hmac=HmacSpec(header="Linear-Signature"),
    body_timestamp="/webhookTimestamp", tolerance_secs=60,  # Linear: "within a minute"
    mapping=Mapping(type=("/type",), action="/action", id=("header:Linear-Delivery",),
                    subject=("/data/id",), time=("/createdAt",), tenant=("/organizationId",)),
    samples={"Issue.create": sample(
        '{"action":"create","type":"Issue","data":{"id":"$UUID","title":"Fix the login",'
        '"identifier":"ENG-123","priority":2},"url":"https://linear.app/acme/issue/ENG-123",'
        '"createdAt":"$NOW_ISO","organizationId":"$UUID","webhookTimestamp":$NOW_MS,'
        '"webhookId":"$UUID"}',
        Linear_Delivery="$UUID", Linear_Event="Issue")},
    checked="@linear/sdk 98.0.0 (npm) LinearWebhookClient.verify and the gateway accept the "
            "same signatures, and both refuse a body whose webhookTimestamp is over a minute old",
)

PAGERDUTY = Preset(
    name="pagerduty", title="PagerDuty (v3 webhooks)",
    docs="https://developer.pagerduty.com/docs/verifying-webhook-signatures",
    hmac=HmacSpec(header="X-PagerDuty-Signature", prefix="v1=", require_prefix=True),
    mapping=Mapping(type=("/event/event_type",), id=("/event/id",), subject=("/event/data/id",),
                    time=("/event/occurred_at",)),
    samples={"incident.triggered": sample(
        '{"event":{"id":"$ID","event_type":"incident.triggered","resource_type":"incident",'
        '"occurred_at":"$NOW_ISO","agent":null,"client":null,"data":{"id":"Q$ID",'
        '"type":"incident","title":"Server is on fire","status":"triggered","urgency":"high"}}}',
        X_Webhook_Subscription="PSUBSCR")},
    checked="the test vector in PagerDuty's Go library's own tests (PagerDuty/go-pagerduty, "
            "webhookv3/webhookv3_test.go, commit 3df5eb4e62dcdf897d37106578d7be6ad54449dc), "
            "alone and after a rotated-out `v1=`",
)

GITEA = Preset(
    name="gitea", title="Gitea / Forgejo",
    docs="https://docs.gitea.com/usage/webhooks",
    hmac=HmacSpec(header="X-Gitea-Signature", aliases=("X-Forgejo-Signature",)),
    mapping=Mapping(type=("header:X-Gitea-Event", "header:X-Forgejo-Event"), action="/action",
                    id=("header:X-Gitea-Delivery", "header:X-Forgejo-Delivery"),
                    subject=("/repository/full_name",)),
    samples={"issues.opened": sample(
        '{"action":"opened","number":1,"issue":{"id":7,"number":1,"title":"Bug"},' + _REPO + '}',
        X_Gitea_Event="issues", X_Gitea_Delivery="$UUID")},
    checked="signed independently (hex HMAC-SHA256 of the body)",
)

PRESETS = (GITLAB, BITBUCKET, JIRA, SENTRY, VERCEL, LINEAR, PAGERDUTY, GITEA)
