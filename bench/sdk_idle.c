/* bench/sdk.sh: an app that starts the relops SDK and then does nothing for ARGV[2]
 * seconds, so that the script can count how often the SDK's threads wake. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "relops.h"

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s CONFIG_JSON SECONDS\n", argv[0]); return 2; }
    RelopsSdk *sdk = relops_init(argv[1]);
    if (!sdk) { fprintf(stderr, "relops_init: %s\n", relops_last_error()); return 1; }
    printf("ready\n");
    fflush(stdout);
    sleep((unsigned)atoi(argv[2]));
    relops_shutdown(sdk);
    return 0;
}
