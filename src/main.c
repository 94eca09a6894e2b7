/* main.c - ovld entry point (being written). */
int main(void) { return 1; }
