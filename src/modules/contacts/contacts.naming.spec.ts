import { titleCase } from './contacts.naming';

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
  ])('%p → %p', (input, expected) => {
    expect(titleCase(input)).toBe(expected);
  });

  it('is idempotent', () => {
    for (const name of ['social-media ads', "o'neil", 'élan vital', '(paid) search', 'b2b/saas']) {
      expect(titleCase(titleCase(name))).toBe(titleCase(name));
    }
  });

  it('names differing only in case and spacing get the same title', () => {
    expect(new Set(['Social media', 'SOCIAL MEDIA', ' social  media ', 'social media']).size).toBe(4);
    expect(new Set(['Social media', 'SOCIAL MEDIA', ' social  media ', 'social media'].map(titleCase))).toEqual(new Set(['Social Media']));
  });
});
