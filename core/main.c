/* Placeholder until the daemon entry point lands (in progress). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "vrouterd: not built yet\n");
    return 1;
}
