// SPDX-License-Identifier: MIT
/* Placeholder so the build configures; the mocked-verbs tests replace it. */
int main(void)
{
	return 0;
}
