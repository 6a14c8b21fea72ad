"""Small phrase banks per scenario, in Hebrew and English, for the synthetic stream.

Synthetic on purpose: the benchmark measures the detector, not the classifier, so texts only need to look
like posts (for the text-signature fallback and for the stated-count parser). Slots: {city}, {n}, {order},
{product}, {link}, {brand}. Personal data appears only in redacted form ([PHONE], [EMAIL]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

CITIES = {
    "he": ["חיפה", "הקריות", "תל אביב", "ירושלים", "באר שבע", "נתניה", "ראשון לציון", "אשדוד", "פתח תקווה", "רמת גן"],
    "en": ["Haifa", "Tel Aviv", "Jerusalem", "Manchester", "Leeds", "Bristol", "Croydon", "Glasgow", "Cardiff"],
}
PRODUCTS = {
    "he": ["היוגורט", "הטחינה", "החומוס", "הקורנפלקס", "המעדן", "הגבינה"],
    "en": ["the yoghurt", "the hummus", "the cereal", "the cheese spread", "the baby puree", "the granola"],
}

BANK: dict[str, dict[str, list[str]]] = {
    "delivery_complaint": {
        "he": ["שבועיים מחכה לחבילה ואף אחד לא עונה", "ההזמנה {order} עדיין לא הגיעה, מה קורה?",
               "השליח לא הגיע ולא התקשר, שירות גרוע", "הזמנתי לפני עשרה ימים ועדיין כלום",
               "הטכנאי לא הגיע לפגישה שנקבעה, חבל על הזמן"],
        "en": ["Two weeks waiting for my parcel and nobody answers", "Order {order} still not here, what is going on?",
               "The courier never showed up and never called", "Ordered ten days ago and still nothing",
               "Technician missed the appointment again, waste of a day"],
    },
    "billing_complaint": {
        "he": ["חייבו אותי פעמיים החודש", "יש לי חיוב על שירות שלא הזמנתי", "החשבונית גבוהה ב-{n} ש\"ח ממה שסוכם",
               "שוב חיוב כפול בכרטיס, די כבר"],
        "en": ["Charged twice this month. Again.", "There is a charge on my bill for a service I never ordered",
               "My invoice is {n} pounds higher than agreed", "Double charge on my card again, fed up"],
    },
    "billing_question": {
        "he": ["מתי יורד החיוב החודשי?", "איך מקבלים חשבונית מס?", "אפשר לשנות את תאריך החיוב?"],
        "en": ["When is the monthly payment taken?", "How do I get a VAT invoice?", "Can I change my billing date?"],
    },
    "tech_problem": {
        "he": ["האפליקציה לא נפתחת מאז העדכון", "אין לי אינטרנט מהבוקר", "לא מצליח להתחבר לחשבון",
               "הראוטר מתנתק כל שעה"],
        "en": ["The app won't open since the update", "No internet since this morning", "Can't log in to my account",
               "Router keeps dropping every hour"],
    },
    "account_request": {
        "he": ["תחזרו אליי בבקשה לגבי ההזמנה {order}", "אפשר לעדכן את הכתובת שלי?", "אני רוצה להעביר קו למספר אחר",
               "תשלחו לי בבקשה העתק של החשבון [EMAIL]"],
        "en": ["Please call me back about order {order}", "Please update my delivery address",
               "I'd like to move my line to another number", "Please send a copy of my statement to [EMAIL]"],
    },
    "general_question": {
        "he": ["עד איזו שעה הסניף פתוח?", "יש לכם סניף ב{city}?", "איך מאפסים את הראוטר?", "מה מדיניות ההחזרות?"],
        "en": ["What time does the branch close?", "Do you have a store in {city}?", "How do I reset the router?",
               "What is your returns policy?"],
    },
    "purchase": {
        "he": ["כמה עולה החבילה של הסיבים?", "יש את זה במידה M? רוצה להזמין", "אפשר להצטרף למועדון?",
               "אתם שולחים ל{city}?"],
        "en": ["How much is the fibre package?", "Is this in size M? want to order", "Can I join the club?",
               "Do you deliver to {city}?"],
    },
    "praise": {
        "he": ["תודה לנציגה שרית, שירות מדהים!", "הזמנתי אתמול וכבר הגיע, כל הכבוד", "אין עליכם 🙏",
               "שירות מעולה, תודה"],
        "en": ["Thanks to Sarah on the phone, amazing service!", "Ordered yesterday and it's already here, well done",
               "Best customer service ever 🙏", "Great service, thank you"],
    },
    "suggestion": {
        "he": ["הייתם צריכים אפליקציה לאייפד", "תחזירו את התפריט הישן", "כדאי להוסיף אפשרות לתשלום בביט"],
        "en": ["You should have an iPad app", "Bring back the old menu please", "Please add Apple Pay at checkout"],
    },
    "churn": {
        "he": ["אם זה לא יסתדר עד מחר אני עובר לחברה אחרת", "תבטלו לי את המנוי", "נמאס, אני מתנתק"],
        "en": ["If this isn't fixed by tomorrow I'm switching", "Cancel my subscription now",
               "Done with you, closing my account"],
    },
    "chatter": {
        "he": ["@דני תראה את זה 😂", "ראשון!", "גם אצלי", "😂😂😂"],
        "en": ["@dan look at this 😂", "first!", "same here", "lol"],
    },
    "spam": {
        "he": ["הרווחתי 5000 ש\"ח מהבית, שלחו הודעה", "עוקבים בחינם, קישור בביו"],
        "en": ["Follow me for free crypto 🚀 link in bio", "Earn $500 a day from home, DM me"],
    },
    # --- incidents -------------------------------------------------------------------------------------------
    "outage": {
        "he": ["אין קליטה בכל {city} כבר שעה", "תקלה רחבה ב{city}? אין אינטרנט בכל השכונה",
               "כל הבניין ב{city} בלי שירות, מה קורה?", "נפל לכם כל האזור של {city}?", "שעה בלי אינטרנט, נמאס"],
        "en": ["No signal anywhere in {city} for an hour", "Is there an outage in {city}? whole street is down",
               "Whole building in {city} has no service, what's going on?", "Is the whole {city} area down?",
               "An hour without internet, ridiculous"],
    },
    "viral_post": {
        "he": ["תראו איך {brand} מתייחסים ללקוחות, ניתקו לאמא שלי את השירות בלי הודעה. שתפו!"],
        "en": ["Look how {brand} treats customers: cut my mum's service with no notice. Share this!"],
    },
    "viral_echo": {
        "he": ["בושה, ראיתי את הפוסט", "גם לי קרה אותו דבר בדיוק", "הפוסט כבר עם {n} שיתופים, תתעוררו",
               "מזעזע, עוזב אתכם", "כבר {n} צפיות לסרטון, איפה התגובה שלכם?"],
        "en": ["Disgraceful, saw the post", "Exactly the same happened to me",
               "That post already has {n} shares, wake up",
               "Shocking, I'm leaving you", "The video is at {n} views, where is your response?"],
    },
    "recall_report": {
        "he": ["מצאתי זכוכית ב{product}, הילד כמעט בלע", "הבת שלי קיבלה הרעלת קיבה אחרי {product}",
               "חתיכת מתכת ב{product}, זה מסוכן", "כל המשפחה חולה אחרי {product} שקנינו אתמול"],
        "en": ["Found glass in {product}, my kid nearly swallowed it", "My daughter got food poisoning after {product}",
               "A piece of metal in {product}, this is dangerous",
               "Whole family sick after {product} we bought yesterday"],
    },
    "recall_followup": {
        "he": ["האם הריקול של {product} כולל גם את האצווה שלי?", "איך מקבלים החזר על {product} שהוחזר?",
               "קניתי {product} בשבוע שעבר, לזרוק?", "למה לא הודעתם קודם על {product}?"],
        "en": ["Does the {product} recall include my batch?", "How do I get a refund for the recalled {product}?",
               "Bought {product} last week, should I throw it away?",
               "Why didn't you warn people about {product} sooner?"],
    },
    "phishing_spam": {
        "he": ["{brand}: החשבון שלך נחסם, לאימות היכנסו ל-{link}", "זכית במתנה מ{brand}! לאיסוף: {link}"],
        "en": ["{brand}: your account is locked, verify at {link}", "You won a {brand} gift card! Claim at {link}"],
    },
    "phishing_question": {
        "he": ["קיבלתי SMS בשם {brand} שמבקש פרטי אשראי, זה אמיתי?", "יש הודעה שמתחזה אליכם עם קישור, זה מכם?",
               "הכנסתי פרטים לקישור שנשלח בשמכם, מה עושים?"],
        "en": ["Got a text from '{brand}' asking for my card details, is it real?",
               "There's a message pretending to be you with a link, is it from you?",
               "I entered my details on a link sent in your name, what do I do?"],
    },
    "billing_error": {
        "he": ["חויבתי פעמיים על אותו חודש, וגם השכנים", "החיוב החודשי קפץ פתאום בלי הסבר",
               "יש חיוב כפול בחשבון של כולם החודש?", "חיוב על {n} ש\"ח שלא קשור אליי"],
        "en": ["Billed twice for the same month, my neighbours too",
               "Monthly charge suddenly jumped with no explanation",
               "Is everyone getting a double charge this month?",
               "A charge of {n} pounds that has nothing to do with me"],
    },
    "critical_single": {
        "he": ["אם לא תחזירו לי את הכסף אני פונה לעורך דין", "פניתי לרשות להגנת הצרכן בעניין שלכם",
               "אני מעביר את הסיפור לכלבוטק", "עוד היום אני מגיש תביעה קטנה נגדכם"],
        "en": ["If you don't refund me I'm calling my lawyer", "I've reported you to the consumer protection authority",
               "I'm sending this story to the BBC", "Filing a small claim against you today"],
    },
    "flood": {
        "he": ["פעם שלישית שאני כותב ואף אחד לא עונה!!!", "שוב אני כותב, תענו כבר", "עדיין מחכה לתשובה!!!"],
        "en": ["Third time I'm writing and nobody answers!!!", "Writing again, answer me",
               "Still waiting for an answer!!!"],
    },
    "sale": {
        "he": ["המבצע של 30% תקף גם באתר?", "עד מתי המבצע?", "קניתי במבצע, איזה כיף!", "יש עוד מלאי במבצע?"],
        "en": ["Is the 30% off valid online too?", "When does the sale end?", "Got a bargain in the sale, love it!",
               "Any stock left in the sale?"],
    },
    "holiday": {
        "he": ["חג שמח לכל הצוות!", "חג שמח ותודה על השירות", "פתוחים בחג?", "חג שמח 🎉"],
        "en": ["Happy holidays to the whole team!", "Happy holidays and thanks for the service",
               "Are you open on the bank holiday?",
               "Happy holidays 🎉"],
    },
}


def fill(template: str, pick: Callable[[Sequence[str]], str], lang: str, brand: str, n: int) -> str:
    """Fill a template's slots; ``pick(seq)`` is a seeded random choice, ``n`` a number for counts and ids."""
    text = template
    if "{city}" in text:
        text = text.replace("{city}", pick(CITIES[lang]))
    if "{product}" in text:
        text = text.replace("{product}", pick(PRODUCTS[lang]))
    if "{order}" in text:
        text = text.replace("{order}", str(4_000_000 + n % 999_983))
    if "{link}" in text:
        text = text.replace("{link}", f"bit.ly/{brand[:3]}-{n % 9973:04d}")
    if "{n}" in text:
        text = text.replace("{n}", f"{n:,}")
    return text.replace("{brand}", brand)
