import { fitHint, syntaxHint } from '../../src/repl/hints.js';

describe('syntaxHint', () => {
  test.each([
    ['set ', '<key> <value> [--ttl <duration>] [--keep-ttl] [--if-absent] [--if-revision <n>] [--if-value <old>]'],
    ['set greeting ', '<value> [--ttl <duration>] [--keep-ttl] [--if-absent] [--if-revision <n>] [--if-value <old>]'],
    ['SET greeting v --ttl ', '<duration>'],
    ['set greeting v --ttl 5m ', '[--keep-ttl] [--if-absent] [--if-revision <n>] [--if-value <old>]'],
    ['set greeting --ttl=5m ', '<value> [--keep-ttl] [--if-absent] [--if-revision <n>] [--if-value <old>]'],
    ['set -- ', '<key> <value>'],
    ['get ', '<key>… [--no-newline]'],
    ['get a ', '[key]… [--no-newline]'],
    ['help ', '[command]'],
    ['timing ', '[on|off]'],
  ])('%p → %p', (line, hint) => {
    expect(syntaxHint(line)).toBe(hint);
  });

  test.each([['se'], ['set gree'], ['set "my key '], ['frobnicate '], [''], ['  '], ['# set '], ['help get ']])('%p has no hint', (line) => {
    expect(syntaxHint(line)).toBe('');
  });

  test('every command of the table hints its arguments after its name', async () => {
    const { commands } = await import('../../src/commands/index.js');
    for (const spec of commands) {
      const required = spec.args.filter((arg) => arg.required && !arg.choices).map((arg) => `<${arg.name}>`);
      for (const word of required) expect(syntaxHint(`${spec.name} `)).toContain(word);
    }
  });
});

test('fitHint cuts at a blank and says so', () => {
  expect(fitHint('<value> [--ttl <duration>]', 40)).toBe('<value> [--ttl <duration>]');
  expect(fitHint('<value> [--ttl <duration>] [--keep-ttl]', 30)).toBe('<value> [--ttl <duration>] …');
  expect(fitHint('<value> [--ttl <duration>]', 8)).toBe('');
});
