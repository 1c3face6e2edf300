import { storedLookupName, titleCase } from './contacts.naming';

describe('titleCase', () => {
  it.each([
    // Spacing
    ['social media', 'Social Media'],
    ['  social   media  ', 'Social Media'],
    ['social\tmedia\nads', 'Social Media Ads'],
    ['social\u00a0media', 'Social Media'],
    ['', ''],
    ['   ', ''],
    ['a', 'A'],
    // Case of the rest of the word
    ['SOCIAL MEDIA', 'Social Media'],
    ['sOcIaL mEdIa', 'Social Media'],
    ['Social Media', 'Social Media'],
    // Hyphens, slashes and parentheses start a word
    ['social-media ads', 'Social-Media Ads'],
    ['word-of-mouth', 'Word-Of-Mouth'],
    ['b2b/saas', 'B2b/Saas'],
    ['(paid) search', '(Paid) Search'],
    // Apostrophes do not start a word (so "women's" does not become "Women'S")
    ["o'neil", "O'neil"],
    ["women's health", "Women's Health"],
    ['don’t call', 'Don’t Call'],
    // Unicode letters
    ['élan vital', 'Élan Vital'],
    ['ÉLAN VITAL', 'Élan Vital'],
    ['zoë ångström', 'Zoë Ångström'],
    ['ñandú-rojo', 'Ñandú-Rojo'],
    ['σοφία', 'Σοφία'],
    ['москва сити', 'Москва Сити'],
    // Digits and symbols are left alone; the first letter after them is not a word start
    ['24/7 support', '24/7 Support'],
    ['3d printing', '3d Printing'],
    ['#1 lead', '#1 Lead'],
    ['vip.customer', 'Vip.customer'],
    // A first letter whose capital is more than one letter stays as it is
    ['ßeta', 'ßeta'],
    ['STRASSE ßeta-ßeta', 'Strasse ßeta-ßeta'],
    ['straße', 'Straße'],
    ['ŉoa', 'ŉoa'],
    // "İ" is the capital of a plain i: one character either way
    ['İSTANBUL', 'İstanbul'],
    ['istanbul', 'Istanbul'],
    ['KİM İÇİN', 'Kim İçin'],
    ['I\u0307stanbul', 'İstanbul'],
    // One form for one text: an accent typed apart is the same name
    ['cafe\u0301', 'Café'],
    ['E\u0301lan', 'Élan'],
  ])('%p → %p', (input, expected) => {
    expect(titleCase(input)).toBe(expected);
  });

  it('is idempotent', () => {
    for (const name of ['social-media ads', "o'neil", 'élan vital', '(paid) search', 'b2b/saas']) {
      expect(titleCase(titleCase(name))).toBe(titleCase(name));
    }
    for (const name of ['ßeta', 'İstanbul', 'KİM', 'ŉoa']) {
      expect(titleCase(titleCase(name))).toBe(titleCase(name));
    }
  });

  it('names differing only in case and spacing get the same title', () => {
    expect(new Set(['Social media', 'SOCIAL MEDIA', ' social  media ', 'social media']).size).toBe(4);
    expect(new Set(['Social media', 'SOCIAL MEDIA', ' social  media ', 'social media'].map(titleCase))).toEqual(new Set(['Social Media']));
  });
});

describe('storedLookupName', () => {
  it('checks the length of the name as stored, Title Cased', () => {
    expect(storedLookupName('  social media ')).toEqual({ name: 'Social Media' });
    expect(storedLookupName('x'.repeat(100))).toEqual({ name: `X${'x'.repeat(99)}` });
    // As many characters stored as typed: "İ" does not lower-case to i and a combining dot.
    expect(storedLookupName('İ'.repeat(100))).toEqual({ name: `İ${'i'.repeat(99)}` });
    expect(storedLookupName('x'.repeat(101)).error).toBe('is 101 characters long once Title Cased; at most 100 are allowed');
  });

  it('refuses control and invisible characters, which make look-alike names', () => {
    for (const raw of ['Caf\u200be', '\u202eVip', 'Bell\u0007', 'Tab\u0000']) {
      expect(storedLookupName(raw).error).toBe('must not contain control or invisible characters');
    }
    expect(storedLookupName('Café Crème').error).toBeUndefined();
    // Whitespace is spacing, collapsed as ever.
    expect(storedLookupName('social\tmedia\nads')).toEqual({ name: 'Social Media Ads' });
  });

  it('counts characters as PostgreSQL does, not UTF-16 units', () => {
    expect(storedLookupName('😀'.repeat(100))).toEqual({ name: '😀'.repeat(100) });
    expect(storedLookupName('😀'.repeat(101)).error).toBeDefined();
  });
});
