/* fuzz_job_contract.c -- libFuzzer target for job.json (lib/job_contract.h),
 * the file a worker trusts on a compute node: any bytes must give a contract
 * or an error, never a crash, a hang or a leak.  A contract that parses must
 * write back and parse again to the same shot hash. */
#include "job_contract.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct job_contract jc, back;
    struct df_err err = {0};
    if (job_contract_parse("job.json", (const char *)data, size, &jc, &err) < 0)
        return 0;
    cJSON *j = job_contract_to_json(&jc);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    if (text) {
        if (job_contract_parse("again", text, strlen(text), &back, &err) < 0 ||
            back.hash != jc.hash)
            abort(); /* what we write we must read back */
        job_contract_free(&back);
    }
    cJSON_free(text);
    cJSON_Delete(j);
    job_contract_free(&jc);
    return 0;
}
