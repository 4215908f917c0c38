import { render } from '@inquirer/testing';
import { linePrompt, type LinePromptConfig } from '../../src/repl/line-prompt.js';

/** The answer for a line typed alone (nothing pasted after it). */
const typed = (line: string) => ({ kind: 'line', line });

function config(overrides: Partial<LinePromptConfig> = {}): LinePromptConfig {
  return {
    prompt: () => 'tbase> ',
    history: [],
    lookupKeys: async () => ({ keys: [], truncated: false }),
    ...overrides,
  };
}

describe('line prompt', () => {
  test('answers the typed line on Enter', async () => {
    const { answer, events, getScreen } = await render(linePrompt, config());
    expect(getScreen()).toBe('tbase>');
    events.type('get greeting');
    expect(getScreen()).toBe('tbase> get greeting');
    events.keypress('enter');
    await expect(answer).resolves.toEqual(typed('get greeting'));
  });

  describe('history', () => {
    const history = ['set a 1', 'get a', 'stats'];

    test('↑ walks back from the newest line, ↓ comes forward', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.keypress('up');
      expect(getScreen()).toBe('tbase> stats');
      events.keypress('up');
      events.keypress('up');
      expect(getScreen()).toBe('tbase> set a 1');
      events.keypress('up'); // the oldest line stays
      expect(getScreen()).toBe('tbase> set a 1');
      events.keypress('down');
      expect(getScreen()).toBe('tbase> get a');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('get a'));
    });

    test('the line being typed comes back below the newest entry', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.type('list us');
      events.keypress('up');
      expect(getScreen()).toBe('tbase> stats');
      events.keypress('down');
      expect(getScreen()).toBe('tbase> list us');
      events.keypress('down'); // nothing below it
      expect(getScreen()).toBe('tbase> list us');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('list us'));
    });

    test('a recalled line can be edited before it is run', async () => {
      const { answer, events } = await render(linePrompt, config({ history }));
      events.keypress('up');
      events.type(' --json');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('stats --json'));
    });
  });

  describe('Tab completion', () => {
    test('completes a command name', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config());
      events.type('sta');
      events.keypress('tab');
      await Promise.resolve();
      expect(getScreen()).toBe('tbase> stats');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('stats '));
    });

    test('looks keys up by the word typed and completes the only one', async () => {
      const asked: string[] = [];
      const lookupKeys = async (prefix: string) => {
        asked.push(prefix);
        return { keys: ['greeting'], truncated: false };
      };
      const { answer, events, getScreen, nextRender } = await render(linePrompt, config({ lookupKeys }));
      events.type('get gr');
      events.keypress('tab');
      await nextRender();
      expect(asked).toEqual(['gr']);
      expect(getScreen()).toBe('tbase> get greeting');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('get greeting '));
    });

    test('lists several matches under the line, and the list goes on the next key', async () => {
      const lookupKeys = async () => ({ keys: ['user:1', 'user:2', 'user two'], truncated: false });
      const { answer, events, getScreen, nextRender } = await render(linePrompt, config({ lookupKeys }));
      events.type('get u');
      events.keypress('tab');
      await nextRender();
      expect(getScreen()).toBe('tbase> get user\nuser:1  user:2  "user two"');
      events.type(':');
      expect(getScreen()).toBe('tbase> get user:');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('get user:'));
    });

    test('says when there are more keys than listed', async () => {
      const lookupKeys = async () => ({ keys: ['a1', 'a2'], truncated: true });
      const { events, getScreen, nextRender } = await render(linePrompt, config({ lookupKeys }));
      events.type('get a');
      events.keypress('tab');
      await nextRender();
      expect(getScreen()).toBe('tbase> get a\na1  a2  … and more: keep typing to narrow');
    });

    test('a failing lookup completes nothing and breaks nothing', async () => {
      const lookupKeys = async () => {
        throw new Error('database is locked');
      };
      const { answer, events, getScreen, nextRender } = await render(linePrompt, config({ lookupKeys }));
      events.type('get x');
      events.keypress('tab');
      await nextRender();
      expect(getScreen()).toBe('tbase> get x');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('get x'));
    });
  });

  describe('Ctrl-C and Ctrl-D', () => {
    test('Ctrl-C clears the line and the prompt goes on', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config());
      events.type('delete everything');
      events.keypress({ name: 'c', ctrl: true });
      expect(getScreen()).toBe('tbase>');
      events.type('stats');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('stats'));
    });

    test('Ctrl-C on an empty line exits', async () => {
      const { answer, events } = await render(linePrompt, config());
      events.keypress({ name: 'c', ctrl: true });
      await expect(answer).resolves.toEqual({ kind: 'exit' });
    });

    test('a second Ctrl-C exits', async () => {
      const { answer, events } = await render(linePrompt, config());
      events.type('get x');
      events.keypress({ name: 'c', ctrl: true });
      events.keypress({ name: 'c', ctrl: true });
      await expect(answer).resolves.toEqual({ kind: 'exit' });
    });

    test('Ctrl-D on an empty line exits', async () => {
      const { answer, events } = await render(linePrompt, config());
      events.keypress({ name: 'd', ctrl: true });
      await expect(answer).resolves.toEqual({ kind: 'exit' });
    });

    test('Ctrl-D inside a line does not exit', async () => {
      const { answer, events } = await render(linePrompt, config());
      events.type('stats');
      events.keypress({ name: 'd', ctrl: true });
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('stats'));
    });
  });

  test('the prompt text is read again while waiting (the cache coming back shows by itself)', async () => {
    let state = 'tbase (cache down)> ';
    const { answer, events, getScreen, nextRender } = await render(linePrompt, config({ prompt: () => state, refreshMs: 5 }));
    expect(getScreen()).toBe('tbase (cache down)>');
    state = 'tbase> ';
    await nextRender();
    expect(getScreen()).toBe('tbase>');
    events.keypress('enter');
    await expect(answer).resolves.toEqual(typed(''));
  });
  describe('reverse search (Ctrl-R)', () => {
    const history = ['set colour blue', 'get colour', 'list', 'get colour --json'];
    const ctrl = (name: string) => ({ name, ctrl: true });

    test('finds the newest line containing the text as it is typed; Enter runs it', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.keypress(ctrl('r'));
      expect(getScreen()).toBe("(reverse-i-search)'':");
      events.type('col');
      expect(getScreen()).toBe("(reverse-i-search)'col': get colour --json");
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('get colour --json'));
      expect(getScreen()).toBe('tbase> get colour --json');
    });

    test('Ctrl-R again walks to older matches, and says when there is none', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.keypress(ctrl('r'));
      events.type('colour');
      events.keypress(ctrl('r'));
      expect(getScreen()).toBe("(reverse-i-search)'colour': get colour");
      events.keypress(ctrl('r'));
      expect(getScreen()).toBe("(reverse-i-search)'colour': set colour blue");
      events.keypress(ctrl('r'));
      expect(getScreen()).toBe("(failed reverse-i-search)'colour': set colour blue");
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('set colour blue'));
    });

    test('typing on keeps the match while it still matches', async () => {
      const { events, getScreen } = await render(linePrompt, config({ history }));
      events.keypress(ctrl('r'));
      events.type('get');
      events.keypress(ctrl('r'));
      expect(getScreen()).toBe("(reverse-i-search)'get': get colour");
      events.type(' c');
      expect(getScreen()).toBe("(reverse-i-search)'get c': get colour");
      events.type('x');
      expect(getScreen()).toBe("(failed reverse-i-search)'get cx': get colour");
    });

    test.each([['escape'], ['right'], [ctrl('g')]])('%p keeps the match on the line for editing', async (key) => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.keypress(ctrl('r'));
      events.type('list');
      events.keypress(key);
      expect(getScreen()).toBe('tbase> list');
      events.type(' user:');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('list user:'));
    });

    test('Ctrl-C gives the line back as it was before the search', async () => {
      const { answer, events, getScreen } = await render(linePrompt, config({ history }));
      events.type('stats');
      events.keypress(ctrl('r'));
      events.type('set');
      events.keypress(ctrl('c'));
      expect(getScreen()).toBe('tbase> stats');
      events.keypress('enter');
      await expect(answer).resolves.toEqual(typed('stats'));
    });
  });
});
