/* A PKCS#11 module that is another one (SoftHSM2) until its token is pulled out:
 * tests/pkcs11.rs builds it with `cc` to see what airsign does when a token goes
 * away in the middle of a run, which SoftHSM2 cannot do by itself.
 *
 * C_GetFunctionList loads the module named by $AIRSIGN_SHIM_MODULE and hands out its
 * function list with C_Sign replaced: the first $AIRSIGN_SHIM_SIGNS signatures are
 * made by the real module, then every C_Sign answers CKR_DEVICE_REMOVED, as a
 * token's module does once the device is gone. (A C_Sign without an output buffer
 * only asks for the length: it is not counted.)
 *
 * No PKCS#11 header is needed: the function list is PKCS#11 2.40's, a CK_VERSION
 * then 68 function pointers, C_Sign the 44th (index 43). Only the 2.40 entry point
 * is exported, so loaders fall back to it (no C_GetInterface). */
#include <dlfcn.h>
#include <stdlib.h>

typedef unsigned long ck_rv;
typedef unsigned long ck_ulong;

#define CKR_GENERAL_ERROR 0x5UL
#define CKR_DEVICE_REMOVED 0x32UL
#define SIGN_INDEX 43

struct function_list {
    unsigned char version[2];
    void *functions[68];
};

typedef ck_rv (*get_list_fn)(struct function_list **);
typedef ck_rv (*sign_fn)(ck_ulong, unsigned char *, ck_ulong, unsigned char *, ck_ulong *);

static struct function_list shim;
static sign_fn real_sign;
static long signs_left = -1;

static ck_rv shim_sign(ck_ulong session, unsigned char *data, ck_ulong len,
                       unsigned char *signature, ck_ulong *signature_len) {
    if (signs_left == 0)
        return CKR_DEVICE_REMOVED;
    if (signature != NULL && signs_left > 0)
        signs_left--;
    return real_sign(session, data, len, signature, signature_len);
}

ck_rv C_GetFunctionList(struct function_list **list) {
    const char *module = getenv("AIRSIGN_SHIM_MODULE");
    const char *signs = getenv("AIRSIGN_SHIM_SIGNS");
    if (module == NULL || signs == NULL || list == NULL)
        return CKR_GENERAL_ERROR;
    void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return CKR_GENERAL_ERROR;
    get_list_fn get = (get_list_fn)dlsym(lib, "C_GetFunctionList");
    struct function_list *real = NULL;
    if (get == NULL || get(&real) != 0 || real == NULL)
        return CKR_GENERAL_ERROR;
    shim = *real;
    real_sign = (sign_fn)shim.functions[SIGN_INDEX];
    shim.functions[SIGN_INDEX] = (void *)shim_sign;
    signs_left = strtol(signs, NULL, 10);
    *list = &shim;
    return 0;
}
