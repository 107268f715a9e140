import sys, sentry_sdk
from sentry_sdk.transport import Transport
out = []
class Capture(Transport):
    def capture_envelope(self, envelope):
        out.append(envelope.serialize())
sentry_sdk.init(dsn="http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1",
                release="wizard@2.1.0", environment="production", transport=Capture,
                auto_session_tracking=False, default_integrations=False, integrations=[])
sentry_sdk.set_user({"id": "install-7"})
sentry_sdk.set_tag("phase", "startup")
sentry_sdk.get_isolation_scope().start_session()
try:
    1 / 0
except ZeroDivisionError as e:
    # what the excepthook integration reports: an unhandled exception
    from sentry_sdk.utils import event_from_exception
    event, hint = event_from_exception(e, client_options=sentry_sdk.get_client().options,
                                       mechanism={"type": "excepthook", "handled": False})
    event["level"] = "fatal"
    sentry_sdk.capture_event(event, hint=hint)
sentry_sdk.get_isolation_scope().end_session()
sentry_sdk.flush()
open("unhandled.envelope", "wb").write(out[0])
if len(out) > 1: open("session-end.envelope", "wb").write(out[1])
out.clear()
with sentry_sdk.new_scope() as scope:
    scope.set_tag("code", "TOB_PARSE_ERROR")
    scope.set_user({"id": "install-8"})
    sentry_sdk.capture_message("could not parse project.tob", level="error")
sentry_sdk.flush()
open("error-code.envelope", "wb").write(out[0])
print(len(out))
