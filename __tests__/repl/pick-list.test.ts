import { render } from '@inquirer/testing';
import { pickList, type PickListConfig } from '../../src/repl/pick-list.js';

const KEYS = ['apple', 'banana', 'blue', 'blueberry'];

/** A source whose answers the test releases, to press keys while the matches load. */
function gatedSource() {
  const waiting: (() => void)[] = [];
  const source = (prefix: string) =>
    new Promise<string[]>((resolve) => waiting.push(() => resolve(KEYS.filter((key) => key.startsWith(prefix)))));
  const releaseAll = async () => {
    while (waiting.length > 0) waiting.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { source, releaseAll };
}

const config = (source: PickListConfig['source']): PickListConfig => ({ message: 'Key to read', source });
const instant = async (prefix: string) => KEYS.filter((key) => key.startsWith(prefix));

test('lists the keys, narrows by prefix as typed, and Enter picks the highlighted one', async () => {
  const { answer, events, getScreen, nextRender } = await render(pickList, config(instant));
  await nextRender();
  expect(getScreen()).toMatch(/^\? Key to read\n❯ apple\n {2}banana\n {2}blue\n {2}blueberry/);
  events.type('bl');
  await nextRender();
  expect(getScreen()).toMatch(/^\? Key to read bl\n❯ blue\n {2}blueberry\n/);
  events.keypress('down');
  expect(getScreen()).toMatch(/ {2}blue\n❯ blueberry/);
  events.keypress('enter');
  await expect(answer).resolves.toBe('blueberry');
  expect(getScreen()).toBe('✔ Key to read blueberry');
});

test('Enter while the matches load waits for them and picks the key typed', async () => {
  const { source, releaseAll } = gatedSource();
  const { answer, events } = await render(pickList, config(source));
  events.type('blue');
  events.keypress('enter');
  await releaseAll();
  await expect(answer).resolves.toBe('blue');
});

test('Enter while loading picks the first match when the typed text is only a prefix', async () => {
  const { source, releaseAll } = gatedSource();
  const { answer, events } = await render(pickList, config(source));
  events.type('ban');
  events.keypress('enter');
  await releaseAll();
  await expect(answer).resolves.toBe('banana');
});

test('Enter with no match is dropped, says why, and typing on still works', async () => {
  const { answer, events, getScreen, nextRender } = await render(pickList, config(instant));
  events.type('cherry');
  await nextRender();
  expect(getScreen()).toMatch(/^\? Key to read cherry\n> No results found/);
  events.keypress('enter');
  await new Promise((resolve) => setImmediate(resolve));
  expect(getScreen()).toMatch(/^\? Key to read cherry\n> No results found/);
  for (let i = 0; i < 'cherry'.length; i++) events.keypress('backspace');
  events.type('a');
  await nextRender();
  events.keypress('enter');
  await expect(answer).resolves.toBe('apple');
});

test('Tab takes the highlighted key into the filter', async () => {
  const { answer, events, getScreen, nextRender } = await render(pickList, config(instant));
  events.type('b');
  await nextRender();
  events.keypress('down');
  events.keypress('tab');
  await nextRender();
  expect(getScreen()).toMatch(/^\? Key to read blue\n❯ blue\n {2}blueberry/);
  events.keypress('enter');
  await expect(answer).resolves.toBe('blue');
});

test('a failing lookup shows its message and picks nothing', async () => {
  const failing = async () => {
    throw new Error('database is locked');
  };
  const { events, getScreen, nextRender } = await render(pickList, config(failing));
  await nextRender();
  events.keypress('enter');
  expect(getScreen()).toMatch(/^\? Key to read\n> database is locked/);
});
