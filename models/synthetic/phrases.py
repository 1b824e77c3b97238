"""Short texts per language for synthetic messages, and names, locales and time zones per language.

The phrases were written for this generator (no data source). ``INBOUND`` are things a lead
writes to an agent; ``OUTBOUND`` are an agent's outreach messages. Index ``i`` means the same thing
in every language.
"""

from __future__ import annotations

from models.language.labels import LANGUAGES as LANGUAGES  # one list: the model's output order

#: Share of leads per language (a US brokerage with international buyers; an assumption).
LANGUAGE_WEIGHTS: dict[str, float] = {
    "en": 0.44,
    "es": 0.15,
    "zh": 0.06,
    "vi": 0.04,
    "ko": 0.04,
    "tl": 0.04,
    "ar": 0.03,
    "fr": 0.025,
    "ru": 0.025,
    "pt": 0.025,
    "hi": 0.03,
    "ja": 0.02,
    "de": 0.02,
    "it": 0.015,
    "th": 0.015,
    "tr": 0.015,
}

#: (locale, country, time zone, weight); a time zone of ``None`` means the market's own zone
#: (leads living in the US near the listings, speaking that language at home).
LOCALES: dict[str, tuple[tuple[str, str, str | None, float], ...]] = {
    "en": (
        ("en_US", "US", None, 0.85),
        ("en_CA", "CA", "America/Vancouver", 0.05),
        ("en_GB", "GB", "Europe/London", 0.05),
        ("en_AU", "AU", "Australia/Sydney", 0.05),
    ),
    "es": (
        ("es_US", "US", None, 0.6),
        ("es_MX", "MX", "America/Mexico_City", 0.25),
        ("es_CO", "CO", "America/Bogota", 0.1),
        ("es_ES", "ES", "Europe/Madrid", 0.05),
    ),
    "zh": (
        ("zh_US", "US", None, 0.55),
        ("zh_CN", "CN", "Asia/Shanghai", 0.25),
        ("zh_TW", "TW", "Asia/Taipei", 0.1),
        ("zh_HK", "HK", "Asia/Hong_Kong", 0.1),
    ),
    "vi": (("vi_US", "US", None, 0.75), ("vi_VN", "VN", "Asia/Ho_Chi_Minh", 0.25)),
    "ko": (("ko_US", "US", None, 0.6), ("ko_KR", "KR", "Asia/Seoul", 0.4)),
    "tl": (("tl_US", "US", None, 0.7), ("tl_PH", "PH", "Asia/Manila", 0.3)),
    "ar": (
        ("ar_US", "US", None, 0.5),
        ("ar_AE", "AE", "Asia/Dubai", 0.2),
        ("ar_SA", "SA", "Asia/Riyadh", 0.15),
        ("ar_EG", "EG", "Africa/Cairo", 0.15),
    ),
    "fr": (
        ("fr_US", "US", None, 0.3),
        ("fr_FR", "FR", "Europe/Paris", 0.4),
        ("fr_CA", "CA", "America/Toronto", 0.3),
    ),
    "ru": (
        ("ru_US", "US", None, 0.5),
        ("ru_RU", "RU", "Europe/Moscow", 0.35),
        ("ru_KZ", "KZ", "Asia/Almaty", 0.15),
    ),
    "pt": (
        ("pt_US", "US", None, 0.5),
        ("pt_BR", "BR", "America/Sao_Paulo", 0.4),
        ("pt_PT", "PT", "Europe/Lisbon", 0.1),
    ),
    "hi": (("hi_US", "US", None, 0.6), ("hi_IN", "IN", "Asia/Kolkata", 0.4)),
    "ja": (("ja_US", "US", None, 0.5), ("ja_JP", "JP", "Asia/Tokyo", 0.5)),
    "de": (
        ("de_US", "US", None, 0.3),
        ("de_DE", "DE", "Europe/Berlin", 0.5),
        ("de_AT", "AT", "Europe/Vienna", 0.1),
        ("de_CH", "CH", "Europe/Zurich", 0.1),
    ),
    "it": (("it_US", "US", None, 0.4), ("it_IT", "IT", "Europe/Rome", 0.6)),
    "th": (("th_US", "US", None, 0.5), ("th_TH", "TH", "Asia/Bangkok", 0.5)),
    "tr": (("tr_US", "US", None, 0.4), ("tr_TR", "TR", "Europe/Istanbul", 0.6)),
}

#: 0 still available? 1 showing this weekend? 2 price negotiable? 3 thanks 4 call me later
INBOUND: dict[str, tuple[str, ...]] = {
    "en": (
        "Is the house still available?",
        "Can we schedule a showing this weekend?",
        "Is the price negotiable?",
        "Thanks, I'll take a look.",
        "Can you call me later?",
    ),
    "es": (
        "¿La casa sigue disponible?",
        "¿Podemos agendar una visita este fin de semana?",
        "¿El precio es negociable?",
        "Gracias, le echaré un vistazo.",
        "¿Me puede llamar más tarde?",
    ),
    "zh": (
        "这套房子还在出售吗？",
        "这个周末可以安排看房吗？",
        "价格可以商量吗？",
        "谢谢，我会看一下。",
        "你晚点可以给我打电话吗？",
    ),
    "vi": (
        "Căn nhà này còn bán không?",
        "Chúng ta có thể hẹn xem nhà cuối tuần này không?",
        "Giá có thương lượng được không?",
        "Cảm ơn, tôi sẽ xem thử.",
        "Anh chị có thể gọi lại cho tôi sau không?",
    ),
    "ko": (
        "이 집 아직 매물로 나와 있나요?",
        "이번 주말에 집을 보러 갈 수 있을까요?",
        "가격 협상이 가능한가요?",
        "감사합니다, 한번 볼게요.",
        "나중에 전화 주실 수 있나요?",
    ),
    "tl": (
        "Available pa po ba ang bahay?",
        "Puwede po ba tayong mag-schedule ng pagtingin ngayong weekend?",
        "Puwede pa po bang tawaran ang presyo?",
        "Salamat po, titingnan ko.",
        "Puwede n'yo po ba akong tawagan mamaya?",
    ),
    "ar": (
        "هل المنزل لا يزال متاحاً؟",
        "هل يمكننا تحديد موعد للمعاينة في عطلة نهاية الأسبوع؟",
        "هل السعر قابل للتفاوض؟",
        "شكراً، سألقي نظرة.",
        "هل يمكنك الاتصال بي لاحقاً؟",
    ),
    "fr": (
        "La maison est-elle toujours disponible ?",
        "Pouvons-nous organiser une visite ce week-end ?",
        "Le prix est-il négociable ?",
        "Merci, je vais regarder.",
        "Pouvez-vous me rappeler plus tard ?",
    ),
    "ru": (
        "Дом ещё продаётся?",
        "Можно договориться о просмотре на выходных?",
        "Цена обсуждается?",
        "Спасибо, посмотрю.",
        "Можете перезвонить мне позже?",
    ),
    "pt": (
        "A casa ainda está disponível?",
        "Podemos agendar uma visita neste fim de semana?",
        "O preço é negociável?",
        "Obrigado, vou dar uma olhada.",
        "Você pode me ligar mais tarde?",
    ),
    "hi": (
        "क्या यह घर अभी भी उपलब्ध है?",
        "क्या हम इस सप्ताहांत घर देखने का समय तय कर सकते हैं?",
        "क्या कीमत पर मोलभाव हो सकता है?",
        "धन्यवाद, मैं देख लूँगा।",
        "क्या आप मुझे बाद में फ़ोन कर सकते हैं?",
    ),
    "ja": (
        "この家はまだ売りに出ていますか？",
        "今週末に内覧の予約はできますか？",
        "価格交渉は可能ですか？",
        "ありがとうございます、見てみます。",
        "後でお電話いただけますか？",
    ),
    "de": (
        "Ist das Haus noch verfügbar?",
        "Können wir am Wochenende eine Besichtigung vereinbaren?",
        "Ist der Preis verhandelbar?",
        "Danke, ich schaue es mir an.",
        "Können Sie mich später anrufen?",
    ),
    "it": (
        "La casa è ancora disponibile?",
        "Possiamo fissare una visita questo fine settimana?",
        "Il prezzo è trattabile?",
        "Grazie, darò un'occhiata.",
        "Può richiamarmi più tardi?",
    ),
    "th": (
        "บ้านหลังนี้ยังว่างอยู่ไหมคะ",
        "เราขอนัดดูบ้านสุดสัปดาห์นี้ได้ไหมคะ",
        "ราคาต่อรองได้ไหมคะ",
        "ขอบคุณค่ะ เดี๋ยวจะลองดู",
        "โทรกลับหาฉันทีหลังได้ไหมคะ",
    ),
    "tr": (
        "Ev hâlâ satılık mı?",
        "Bu hafta sonu bir gösterim ayarlayabilir miyiz?",
        "Fiyatta pazarlık payı var mı?",
        "Teşekkürler, bir bakacağım.",
        "Beni daha sonra arayabilir misiniz?",
    ),
}

#: 0 new listings match 1 book a showing? 2 checking in, any questions?
OUTBOUND: dict[str, tuple[str, ...]] = {
    "en": (
        "Hi! New listings match your search.",
        "Would you like to book a showing?",
        "Just checking in. Any questions?",
    ),
    "es": (
        "¡Hola! Hay nuevas propiedades que coinciden con su búsqueda.",
        "¿Le gustaría agendar una visita?",
        "Solo quería saber si tiene alguna pregunta.",
    ),
    "zh": ("您好！有新的房源符合您的搜索条件。", "您想预约看房吗？", "想问一下您还有什么问题吗？"),
    "vi": (
        "Xin chào! Có nhà mới phù hợp với tìm kiếm của bạn.",
        "Bạn có muốn đặt lịch xem nhà không?",
        "Bạn có câu hỏi nào không?",
    ),
    "ko": (
        "안녕하세요! 검색 조건에 맞는 새 매물이 있습니다.",
        "집 보러 오실 일정을 잡아 드릴까요?",
        "혹시 궁금하신 점 있으신가요?",
    ),
    "tl": (
        "Magandang araw po! May mga bagong listing na tugma sa hinahanap ninyo.",
        "Gusto n'yo po bang mag-book ng pagtingin?",
        "Kumusta po, may tanong pa po ba kayo?",
    ),
    "ar": (
        "مرحباً! هناك عقارات جديدة تطابق بحثك.",
        "هل تود حجز موعد لمعاينة العقار؟",
        "أردت فقط الاطمئنان، هل لديك أي أسئلة؟",
    ),
    "fr": (
        "Bonjour ! De nouvelles annonces correspondent à votre recherche.",
        "Souhaitez-vous réserver une visite ?",
        "Je reviens vers vous : avez-vous des questions ?",
    ),
    "ru": (
        "Здравствуйте! Появились новые объекты по вашему запросу.",
        "Хотите записаться на просмотр?",
        "Остались ли у вас вопросы?",
    ),
    "pt": (
        "Olá! Há novos imóveis que combinam com a sua busca.",
        "Gostaria de agendar uma visita?",
        "Só passando para saber se você tem alguma dúvida.",
    ),
    "hi": (
        "नमस्ते! आपकी खोज से मेल खाते नए घर उपलब्ध हैं।",
        "क्या आप घर देखने का समय बुक करना चाहेंगे?",
        "क्या आपके कोई सवाल हैं?",
    ),
    "ja": (
        "こんにちは！ご希望の条件に合う新しい物件があります。",
        "内覧のご予約はいかがですか？",
        "何かご質問はございますか？",
    ),
    "de": (
        "Hallo! Es gibt neue Angebote, die zu Ihrer Suche passen.",
        "Möchten Sie einen Besichtigungstermin vereinbaren?",
        "Ich wollte kurz nachfragen, ob Sie noch Fragen haben.",
    ),
    "it": (
        "Salve! Ci sono nuovi immobili in linea con la sua ricerca.",
        "Vuole prenotare una visita?",
        "Volevo sapere se ha qualche domanda.",
    ),
    "th": ("สวัสดีครับ มีประกาศใหม่ที่ตรงกับการค้นหาของคุณ", "สนใจนัดดูบ้านไหมครับ", "มีคำถามเพิ่มเติมไหมครับ"),
    "tr": (
        "Merhaba! Aramanıza uygun yeni ilanlar var.",
        "Bir gösterim randevusu almak ister misiniz?",
        "Sorunuz olup olmadığını sormak istedim.",
    ),
}

#: Agent voice notes (dictated in English).
VOICE_NOTES: tuple[str, ...] = (
    "Wants three beds near good schools.",
    "Pre-approved, ready to move fast.",
    "Prefers texts after work.",
    "Needs to sell the current home first.",
    "Asked about HOA fees and parking.",
    "Budget is firm, flexible on area.",
)

#: (first names, last names), romanized.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        ("James", "Mary", "Michael", "Jennifer", "David", "Sarah"),
        ("Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson"),
    ),
    "es": (
        ("José", "María", "Luis", "Carmen", "Juan", "Sofía"),
        ("García", "Hernández", "López", "Martínez", "Rodríguez", "Pérez"),
    ),
    "zh": (
        ("Wei", "Li", "Na", "Jun", "Mei", "Hao"),
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang"),
    ),
    "vi": (
        ("Minh", "Linh", "Tuan", "Huong", "Anh", "Duc"),
        ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu"),
    ),
    "ko": (
        ("Min-jun", "Seo-yeon", "Ji-hoon", "Ji-woo", "Hyun-woo", "Soo-jin"),
        ("Kim", "Lee", "Park", "Choi", "Jung", "Kang"),
    ),
    "tl": (
        ("Jose", "Maria", "Mark", "Kristine", "Paolo", "Angelica"),
        ("Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza"),
    ),
    "ar": (
        ("Mohammed", "Fatima", "Ahmed", "Layla", "Omar", "Noor"),
        ("Haddad", "Al-Masri", "Khalil", "Hassan", "Nasser", "Saleh"),
    ),
    "fr": (
        ("Jean", "Marie", "Pierre", "Camille", "Louis", "Chloé"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit"),
    ),
    "ru": (
        ("Aleksandr", "Anna", "Dmitry", "Elena", "Sergey", "Olga"),
        ("Ivanov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolov"),
    ),
    "pt": (
        ("João", "Ana", "Pedro", "Mariana", "Lucas", "Beatriz"),
        ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa"),
    ),
    "hi": (
        ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Neha"),
        ("Sharma", "Patel", "Singh", "Gupta", "Kumar", "Reddy"),
    ),
    "ja": (
        ("Haruto", "Yui", "Sota", "Hina", "Ren", "Sakura"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"),
    ),
    "de": (
        ("Lukas", "Anna", "Maximilian", "Laura", "Felix", "Lena"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer"),
    ),
    "it": (
        ("Marco", "Giulia", "Luca", "Francesca", "Matteo", "Chiara"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"),
    ),
    "th": (
        ("Somchai", "Malee", "Anan", "Siriporn", "Kittisak", "Nattaya"),
        ("Saetang", "Srisuk", "Wongsawat", "Chaiyaporn", "Boonmee", "Rattanakorn"),
    ),
    "tr": (
        ("Mehmet", "Ayşe", "Mustafa", "Fatma", "Emre", "Zeynep"),
        ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız"),
    ),
}
