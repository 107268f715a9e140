/*
 * A desktop app's whole flow through the relops C library (include/relops.h):
 *
 *   1. as the installed version: log and audit, a session, check the signed feed,
 *      download, verify and stage the update it offers;
 *   2. "restarted" as the new version: a session that ends normally, and one that
 *      crashes — its minidump (written by a real crash handler) queued and uploaded with
 *      the last days' logs, and the user's problem report, a support ticket that names the
 *      crash and carries the logs. Log bundles are redacted: the SDK replaces e-mail
 *      addresses, the app's own redactor below hides project file names.
 *
 * Usage: wizard CONFIG_INSTALLED.json CONFIG_UPDATED.json MINIDUMP.dmp
 * Exit 0 when every step worked; otherwise the step and relops_last_error() on stderr.
 * examples/c/run.sh builds it and runs it against a relops server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relops.h"

static int failed(const char *step) {
    fprintf(stderr, "wizard: %s failed: %s\n", step, relops_last_error());
    return 1;
}

#define CHECK(call, step) do { if ((call) != RELOPS_OK) { rc = failed(step); goto out; } } while (0)

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

struct progress { unsigned calls; uint64_t last; };

static void on_progress(uint64_t done, uint64_t total, void *user_data) {
    struct progress *p = user_data;
    p->calls++;
    p->last = done;
    printf("  downloading: %llu of %llu bytes\n", (unsigned long long)done, (unsigned long long)total);
}

/* The app's redaction of log bundles: project file names ("Q3.wzp") become "[file]" (the
 * same length, rewritten in place; a redactor may also shorten the line and return its new
 * length). */
static size_t hide_project_files(char *line, size_t len, void *user_data) {
    unsigned *lines = user_data;
    (*lines)++;
    for (char *p = strstr(line, ".wzp"); p; p = strstr(p + 1, ".wzp")) {
        char *start = p;
        while (start > line && start[-1] != ' ' && start[-1] != '/') start--;
        size_t n = (size_t)(p + 4 - start);
        if (n >= 6) {
            memcpy(start, "[file]", 6);
            memmove(start + 6, p + 4, len - (size_t)(p + 4 - line) + 1);
            len -= n - 6;
            p = start;
        }
    }
    return len;
}

/* Step 1: the installed version finds, downloads and stages its update. */
static int installed(const char *config) {
    int rc = 0;
    RelopsUpdate *update = NULL;
    char *staged = NULL;
    char *plan = NULL;
    RelopsSdk *sdk = relops_init(config);
    if (!sdk) return failed("relops_init (installed version)");
    printf("install id %s\n", relops_install_id(sdk));
    CHECK(relops_log(sdk, RELOPS_LEVEL_INFO, "wizard", "started"), "relops_log");
    CHECK(relops_audit(sdk, "user.sign_in", "{\"user\":\"anna\",\"method\":\"sso\"}"), "relops_audit");
    CHECK(relops_session_start(sdk), "relops_session_start");
    CHECK(relops_check_update(sdk, &update), "relops_check_update");
    if (!update) {
        fprintf(stderr, "wizard: the feed offers no update to this install\n");
        rc = 1;
        goto out;
    }
    printf("update %s (%llu bytes)%s\n", relops_update_version(update),
           (unsigned long long)relops_update_size(update),
           relops_update_is_downgrade(update) ? ", a rollback" : "");
    uint32_t schema = 0, down = 0;
    if (relops_update_data_schema(update, &schema, &down)) {
        printf("it reads data schema %u (its down-migrations reach %u)\n", schema, down);
    }
    struct progress p = {0, 0};
    CHECK(relops_download_update(sdk, update, on_progress, &p, &staged), "relops_download_update");
    if (p.calls == 0 || p.last != relops_update_size(update)) {
        fprintf(stderr, "wizard: the progress callback saw %llu bytes in %u calls\n",
                (unsigned long long)p.last, p.calls);
        rc = 1;
        goto out;
    }
    printf("verified and staged at %s\n", staged);
    /* How it installs on this platform (Windows places an MSI itself: no installed path).
     * relops_install_update runs the same plan; this example does not install on Linux. */
    CHECK(relops_install_plan(sdk, update, staged, NULL, &plan), "relops_install_plan");
    printf("install plan: %s\n", plan);
    CHECK(relops_session_end(sdk), "relops_session_end");
    /* A wrong argument is refused with a message, not a crash. */
    if (relops_log(sdk, 42, "wizard", "x") != RELOPS_ERR_INVALID_ARGUMENT || !*relops_last_error()) {
        fprintf(stderr, "wizard: a bad log level was not refused\n");
        rc = 1;
        goto out;
    }
out:
    relops_string_free(plan);
    relops_string_free(staged);
    relops_update_free(update);
    relops_shutdown(sdk);
    return rc;
}

/* Step 2: the updated version runs twice; the second run crashes. */
static int updated(const char *config, const char *minidump) {
    int rc = 0;
    char *crash_id = NULL;
    char *bundle = NULL;
    char *ticket = NULL;
    unsigned redacted_lines = 0;
    RelopsFlushResult flushed;
    RelopsSdk *sdk = relops_init(config);
    if (!sdk) return failed("relops_init (updated version)");
    CHECK(relops_set_log_redactor(sdk, hide_project_files, &redacted_lines), "relops_set_log_redactor");
    CHECK(relops_session_start(sdk), "relops_session_start");
    CHECK(relops_log(sdk, RELOPS_LEVEL_INFO, "wizard.account", "signed in as anna@example.com"), "relops_log");
    CHECK(relops_log(sdk, RELOPS_LEVEL_ERROR, "wizard.project", "cannot open Q3.wzp: schema 9 is newer than 7"), "relops_log");
    CHECK(relops_session_end(sdk), "relops_session_end");
    CHECK(relops_session_start(sdk), "relops_session_start");
    /* What the crash handler does: end the session as crashed; the dump it wrote is queued. */
    CHECK(relops_session_crashed(sdk), "relops_session_crashed");
    CHECK(relops_crash_queue_minidump(sdk, minidump, &crash_id), "relops_crash_queue_minidump");
    printf("crash %s queued\n", crash_id);
    /* The last week's logs go with the crash (a real app does this on the next start). */
    CHECK(relops_attach_logs(sdk, crash_id, 7, &bundle), "relops_attach_logs");
    printf("log bundle %s queued for the crash\n", bundle);
    /* The user reports it: a support ticket with this install, its release, the crash and
     * the last three days' logs. */
    CHECK(relops_report_problem_with_logs(sdk, "WIZARD crashed while exporting",
                                          "The export to PDF hangs, then the app closes.",
                                          "anna@example.com", NULL, 3, &ticket),
          "relops_report_problem_with_logs");
    printf("ticket %s opened\n", ticket);
    if (redacted_lines == 0) {
        fprintf(stderr, "wizard: the redactor saw no line\n");
        rc = 1;
    }
    CHECK(relops_flush(sdk, &flushed), "relops_flush");
    printf("sent %llu session updates and %llu crash reports\n",
           (unsigned long long)flushed.sessions_sent, (unsigned long long)flushed.crashes_sent);
    if (flushed.crashes_sent != 1 || flushed.sessions_pending != 0 || flushed.crashes_pending != 0 ||
        flushed.bundles_pending != 0) {
        fprintf(stderr, "wizard: not everything was delivered\n");
        rc = 1;
    }
out:
    relops_string_free(ticket);
    relops_string_free(bundle);
    relops_string_free(crash_id);
    relops_shutdown(sdk);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG_INSTALLED.json CONFIG_UPDATED.json MINIDUMP.dmp\n", argv[0]);
        return 2;
    }
    if (relops_init(NULL) != NULL || strstr(relops_last_error(), "NULL") == NULL) {
        fprintf(stderr, "wizard: relops_init(NULL) was not refused\n");
        return 1;
    }
    char *first = read_file(argv[1]);
    char *second = read_file(argv[2]);
    int rc = 1;
    if (!first || !second) {
        fprintf(stderr, "wizard: cannot read the configuration files\n");
    } else if (installed(first) == 0 && updated(second, argv[3]) == 0) {
        rc = 0;
    }
    free(first);
    free(second);
    return rc;
}
