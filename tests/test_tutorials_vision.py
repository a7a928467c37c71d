"""The code paths of the TF 2.x vision tutorials (image classification, transfer learning,
data augmentation, CVAE, segmentation, autoencoders, style transfer) as their code runs with
`import nabi as tf`, on tiny synthetic data in place of the downloads and weights=None."""
import os

import numpy as np

import nabi as tf
from nabi import keras
from nabi.keras import layers


def test_image_classification(tmp_path):
    from nabi import keras
    from nabi.keras import layers
    from nabi.keras.models import Sequential
    from PIL import Image
    d = str(tmp_path)
    rng = np.random.default_rng(0)
    names = ["daisy", "roses", "tulips"]
    for ci, n in enumerate(names):
        os.makedirs(os.path.join(d, n))
        for i in range(8):
            a = rng.integers(0, 60, (20, 24, 3)).astype(np.uint8)
            a[..., ci] += 150
            Image.fromarray(a).save(os.path.join(d, n, f"{i}.jpg"))
    img_height, img_width, batch_size = 16, 16, 4
    train_ds = tf.keras.utils.image_dataset_from_directory(d, validation_split=0.25, subset="training", seed=123, image_size=(img_height, img_width), batch_size=batch_size)
    val_ds = tf.keras.utils.image_dataset_from_directory(d, validation_split=0.25, subset="validation", seed=123, image_size=(img_height, img_width), batch_size=batch_size)
    class_names = train_ds.class_names
    print(class_names)
    for image_batch, labels_batch in train_ds:
        print(image_batch.shape, labels_batch.shape); break
    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)
    normalization_layer = layers.Rescaling(1./255)
    normalized_ds = train_ds.map(lambda x, y: (normalization_layer(x), y))
    image_batch, labels_batch = next(iter(normalized_ds))
    first_image = image_batch[0]
    print(np.min(first_image), np.max(first_image))
    num_classes = len(class_names)
    data_augmentation = keras.Sequential([
        layers.RandomFlip("horizontal", input_shape=(img_height, img_width, 3)),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.1),
    ])
    for images, _ in train_ds.take(1):
        for i in range(2):
            augmented_images = data_augmentation(images)
            print(augmented_images[0].numpy().astype("uint8").shape)
    model = Sequential([
      data_augmentation,
      layers.Rescaling(1./255),
      layers.Conv2D(16, 3, padding='same', activation='relu'),
      layers.MaxPooling2D(),
      layers.Conv2D(32, 3, padding='same', activation='relu'),
      layers.MaxPooling2D(),
      layers.Dropout(0.2),
      layers.Flatten(),
      layers.Dense(32, activation='relu'),
      layers.Dense(num_classes, name="outputs")
    ])
    model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    model.summary()
    epochs=3
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs)
    acc = history.history['accuracy']
    val_acc = history.history['val_accuracy']
    loss = history.history['loss']
    val_loss = history.history['val_loss']
    epochs_range = range(epochs)
    print(loss, val_loss, acc)
    img = tf.keras.utils.load_img(os.path.join(d, "roses", "0.jpg"), target_size=(img_height, img_width))
    img_array = tf.keras.utils.img_to_array(img)
    img_array = tf.expand_dims(img_array, 0)
    predictions = model.predict(img_array)
    score = tf.nn.softmax(predictions[0])
    print("This image most likely belongs to {} with a {:.2f} percent confidence.".format(class_names[np.argmax(score)], 100 * np.max(score)))

    assert class_names == names
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(acc) == len(val_acc) == len(loss) == len(val_loss) == epochs
    assert loss[-1] < loss[0]  # each class has its own dominant colour: learnable
    assert predictions.shape == (1, num_classes)
    np.testing.assert_allclose(score.numpy(), np.exp(predictions[0]) / np.exp(predictions[0]).sum(),
                               rtol=1e-5)
    assert model.layers[0] is data_augmentation and model.input_shape == (None, 16, 16, 3)


def test_transfer_learning_and_fine_tuning():
    IMG_SIZE=(32,32)
    rng=np.random.default_rng(0)
    x = rng.uniform(0,255,(16,32,32,3)).astype("float32")
    y = (x[...,0].mean(axis=(1,2)) > x[...,1].mean(axis=(1,2))).astype("float32")
    train_dataset = tf.data.Dataset.from_tensor_slices((x,y)).batch(8)
    validation_dataset = tf.data.Dataset.from_tensor_slices((x[:8],y[:8])).batch(8)
    val_batches = tf.data.experimental.cardinality(validation_dataset)
    test_dataset = validation_dataset.take(val_batches // 5 if val_batches>=5 else 1)
    AUTOTUNE = tf.data.AUTOTUNE
    train_dataset = train_dataset.prefetch(buffer_size=AUTOTUNE)
    data_augmentation = tf.keras.Sequential([
      tf.keras.layers.RandomFlip('horizontal'),
      tf.keras.layers.RandomRotation(0.2),
    ])
    preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
    rescale = tf.keras.layers.Rescaling(1./127.5, offset=-1)
    IMG_SHAPE = IMG_SIZE + (3,)
    base_model = tf.keras.applications.MobileNetV2(input_shape=IMG_SHAPE, include_top=False, weights=None)
    image_batch, label_batch = next(iter(train_dataset))
    feature_batch = base_model(image_batch)
    print(feature_batch.shape)
    base_model.trainable = False
    global_average_layer = tf.keras.layers.GlobalAveragePooling2D()
    feature_batch_average = global_average_layer(feature_batch)
    print(feature_batch_average.shape)
    prediction_layer = tf.keras.layers.Dense(1)
    prediction_batch = prediction_layer(feature_batch_average)
    print(prediction_batch.shape)
    inputs = tf.keras.Input(shape=(32, 32, 3))
    x = data_augmentation(inputs)
    x = preprocess_input(x)
    x = base_model(x, training=False)
    x = global_average_layer(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    outputs = prediction_layer(x)
    model = tf.keras.Model(inputs, outputs)
    base_learning_rate = 0.0001
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=base_learning_rate),
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0, name='accuracy')])
    model.summary()
    print(len(model.trainable_variables))
    loss0, accuracy0 = model.evaluate(validation_dataset)
    frozen_before = [w.numpy().copy() for w in base_model.weights]
    initial_epochs = 2
    history = model.fit(train_dataset, epochs=initial_epochs, validation_data=validation_dataset)
    acc = history.history['accuracy']; val_acc = history.history['val_accuracy']
    for w, w0 in zip(base_model.weights, frozen_before):  # trainable=False and training=False
        np.testing.assert_array_equal(w.numpy(), w0)
    base_model.trainable = True
    print("Number of layers in the base model: ", len(base_model.layers))
    fine_tune_at = 100
    for layer in base_model.layers[:fine_tune_at]:
      layer.trainable = False
    model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  optimizer = tf.keras.optimizers.RMSprop(learning_rate=base_learning_rate/10),
                  metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0, name='accuracy')])
    print(len(model.trainable_variables))
    n_trainable_fine = len(model.trainable_variables)
    fine_tune_epochs = 1
    total_epochs =  initial_epochs + fine_tune_epochs
    history_fine = model.fit(train_dataset, epochs=total_epochs, initial_epoch=history.epoch[-1], validation_data=validation_dataset)
    print(history.epoch, history_fine.epoch)
    loss, accuracy = model.evaluate(test_dataset)
    image_batch, label_batch = test_dataset.as_numpy_iterator().next()
    predictions = model.predict_on_batch(image_batch).flatten()
    predictions = tf.nn.sigmoid(predictions)
    predictions = tf.where(predictions < 0.5, 0, 1)
    print('Predictions:\n', predictions.numpy())

    assert feature_batch.shape == (8, 1, 1, 1280) and feature_batch_average.shape == (8, 1280)
    assert prediction_batch.shape == (8, 1)
    assert len(base_model.layers) == 154
    assert n_trainable_fine == 56  # as the tutorial prints for fine_tune_at = 100
    assert history.epoch == [0, 1] and history_fine.epoch == [1, 2]
    assert isinstance(model.optimizer, tf.keras.optimizers.RMSprop)
    assert sorted(np.unique(predictions.numpy())) in ([0], [1], [0, 1])


def test_data_augmentation():
    from nabi.keras import layers
    rng=np.random.default_rng(0)
    image = rng.uniform(0,1,(20,20,3)).astype("float32")
    IMG_SIZE = 16
    resize_and_rescale = tf.keras.Sequential([
      layers.Resizing(IMG_SIZE, IMG_SIZE),
      layers.Rescaling(1./255)
    ])
    result = resize_and_rescale(image*255)
    print(result.shape, result.numpy().min(), result.numpy().max())
    data_augmentation = tf.keras.Sequential([
      layers.RandomFlip("horizontal_and_vertical"),
      layers.RandomRotation(0.2),
    ])
    image2 = tf.cast(tf.expand_dims(image, 0), tf.float32)
    augmented_image = data_augmentation(image2)
    print(augmented_image.shape)
    model = tf.keras.Sequential([
      resize_and_rescale,
      data_augmentation,
      layers.Conv2D(16, 3, padding='same', activation='relu'),
      layers.MaxPooling2D(),
    ])
    print(model(image2*255).shape)
    imgs = rng.uniform(0,255,(6,20,20,3)).astype("float32"); labels = np.arange(6)
    train_ds = tf.data.Dataset.from_tensor_slices((imgs, labels))
    aug_ds = train_ds.map(lambda x, y: (resize_and_rescale(x, training=True), y))
    print(next(iter(aug_ds))[0].shape)
    batch_size=2
    AUTOTUNE = tf.data.AUTOTUNE
    def prepare(ds, shuffle=False, augment=False):
      ds = ds.map(lambda x, y: (resize_and_rescale(x), y), num_parallel_calls=AUTOTUNE)
      if shuffle:
        ds = ds.shuffle(1000)
      ds = ds.batch(batch_size)
      if augment:
        ds = ds.map(lambda x, y: (data_augmentation(x, training=True), y), num_parallel_calls=AUTOTUNE)
      return ds.prefetch(buffer_size=AUTOTUNE)
    ds = prepare(train_ds, shuffle=True, augment=True)
    for xb, yb in ds: print(xb.shape, yb.shape)
    # custom layer
    def random_invert_img(x, p=0.5):
      if  tf.random.uniform([]) < p:
        x = (255-x)
      else:
        x
      return x
    def random_invert(factor=0.5):
      return layers.Lambda(lambda x: random_invert_img(x, factor))
    random_invert = random_invert()
    print(random_invert(image2*255).shape)
    class RandomInvert(layers.Layer):
      def __init__(self, factor=0.5, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
      def call(self, x):
        return random_invert_img(x)
    print(RandomInvert()(image2*255).shape)
    # tf.image
    flipped = tf.image.flip_left_right(image)
    np.testing.assert_allclose(flipped.numpy(), image[:, ::-1])
    grayscaled = tf.image.rgb_to_grayscale(image)
    print(grayscaled.shape, tf.squeeze(grayscaled).shape)
    saturated = tf.image.adjust_saturation(image, 3)
    bright = tf.image.adjust_brightness(image, 0.4)
    cropped = tf.image.central_crop(image, central_fraction=0.5)
    rotated = tf.image.rot90(image)
    print(saturated.shape, bright.shape, cropped.shape, rotated.shape)
    for i in range(3):
      seed = (i, 0)
      stateless_random_brightness = tf.image.stateless_random_brightness(image, max_delta=0.95, seed=seed)
      stateless_random_contrast = tf.image.stateless_random_contrast(image, lower=0.1, upper=0.9, seed=seed)
      stateless_random_crop = tf.image.stateless_random_crop(image, size=[10, 10, 3], seed=seed)
      print(stateless_random_crop.shape)
    # apply augmentation to dataset
    def resize_and_rescale_fn(image, label):
      image = tf.cast(image, tf.float32)
      image = tf.image.resize(image, [IMG_SIZE, IMG_SIZE])
      image = (image / 255.0)
      return image, label
    def augment(image_label, seed):
      image, label = image_label
      image, label = resize_and_rescale_fn(image, label)
      image = tf.image.resize_with_crop_or_pad(image, IMG_SIZE + 6, IMG_SIZE + 6)
      new_seed = tf.random.split(seed, num=1)[0, :]
      image = tf.image.stateless_random_crop(image, size=[IMG_SIZE, IMG_SIZE, 3], seed=seed)
      image = tf.image.stateless_random_brightness(image, max_delta=0.5, seed=new_seed)
      image = tf.clip_by_value(image, 0, 1)
      return image, label
    counter = tf.data.experimental.Counter()
    train_ds2 = tf.data.Dataset.zip((train_ds, (counter, counter)))
    train_ds2 = (train_ds2.shuffle(1000).map(augment, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE))
    for xb, yb in train_ds2: print(xb.shape, yb.shape, float(tf.reduce_min(xb)), float(tf.reduce_max(xb)))
    rng2 = tf.random.Generator.from_seed(123, alg='philox')
    def f(x, y):
      seed = rng2.make_seeds(2)[0]
      image, label = augment((x, y), seed)
      return image, label
    train_ds3 = (train_ds.shuffle(1000).map(f, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE))
    for xb, yb in train_ds3: print(xb.shape)
    # stateless_split
    def aug2(x, y):
      seed = tf.random.experimental.stateless_split(tf.constant([1, 2], tf.int64), num=1)[0]
      return tf.image.stateless_random_flip_left_right(x, seed), y
    print(next(iter(train_ds.map(aug2)))[0].shape)

    assert result.shape == (IMG_SIZE, IMG_SIZE, 3)
    assert 0 <= result.numpy().min() and result.numpy().max() <= 1
    assert augmented_image.shape == (1, 20, 20, 3)
    np.testing.assert_allclose(grayscaled.numpy()[..., 0], image @ np.array([0.2989, 0.587, 0.114]),
                               rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(bright.numpy(), image + 0.4, rtol=1e-6)
    np.testing.assert_allclose(cropped.numpy(), image[5:15, 5:15])
    np.testing.assert_allclose(rotated.numpy(), np.rot90(image))
    # stateless ops: the same seed gives the same result
    a = tf.image.stateless_random_crop(image, size=[10, 10, 3], seed=(7, 1)).numpy()
    np.testing.assert_array_equal(a, tf.image.stateless_random_crop(image, size=[10, 10, 3],
                                                                    seed=(7, 1)).numpy())
    seeds = tf.random.experimental.stateless_split(tf.constant([1, 2], tf.int64), num=3)
    assert seeds.shape == (3, 2)


def test_convolutional_vae():
    rng=np.random.default_rng(0)
    train_images = (rng.uniform(size=(32, 28, 28, 1)) > 0.7).astype("float32")
    train_size, batch_size = 32, 8
    train_dataset = (tf.data.Dataset.from_tensor_slices(train_images).shuffle(train_size).batch(batch_size))
    class CVAE(tf.keras.Model):
      def __init__(self, latent_dim):
        super(CVAE, self).__init__()
        self.latent_dim = latent_dim
        self.encoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
                tf.keras.layers.Conv2D(filters=8, kernel_size=3, strides=(2, 2), activation='relu'),
                tf.keras.layers.Conv2D(filters=16, kernel_size=3, strides=(2, 2), activation='relu'),
                tf.keras.layers.Flatten(),
                tf.keras.layers.Dense(latent_dim + latent_dim),
            ])
        self.decoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(latent_dim,)),
                tf.keras.layers.Dense(units=7*7*16, activation=tf.nn.relu),
                tf.keras.layers.Reshape(target_shape=(7, 7, 16)),
                tf.keras.layers.Conv2DTranspose(filters=16, kernel_size=3, strides=2, padding='same', activation='relu'),
                tf.keras.layers.Conv2DTranspose(filters=8, kernel_size=3, strides=2, padding='same', activation='relu'),
                tf.keras.layers.Conv2DTranspose(filters=1, kernel_size=3, strides=1, padding='same'),
            ])
      @tf.function
      def sample(self, eps=None):
        if eps is None:
          eps = tf.random.normal(shape=(100, self.latent_dim))
        return self.decode(eps, apply_sigmoid=True)
      def encode(self, x):
        mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
        return mean, logvar
      def reparameterize(self, mean, logvar):
        eps = tf.random.normal(shape=mean.shape)
        return eps * tf.exp(logvar * .5) + mean
      def decode(self, z, apply_sigmoid=False):
        logits = self.decoder(z)
        if apply_sigmoid:
          probs = tf.sigmoid(logits)
          return probs
        return logits
    optimizer = tf.keras.optimizers.Adam(1e-3)
    def log_normal_pdf(sample, mean, logvar, raxis=1):
      log2pi = tf.math.log(2. * np.pi)
      return tf.reduce_sum(-.5 * ((sample - mean) ** 2. * tf.exp(-logvar) + logvar + log2pi), axis=raxis)
    def compute_loss(model, x):
      mean, logvar = model.encode(x)
      z = model.reparameterize(mean, logvar)
      x_logit = model.decode(z)
      cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
      logpx_z = -tf.reduce_sum(cross_ent, axis=[1, 2, 3])
      logpz = log_normal_pdf(z, 0., 0.)
      logqz_x = log_normal_pdf(z, mean, logvar)
      return -tf.reduce_mean(logpx_z + logpz - logqz_x)
    @tf.function
    def train_step(model, x, optimizer):
      with tf.GradientTape() as tape:
        loss = compute_loss(model, x)
      gradients = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    latent_dim = 2
    num_examples_to_generate = 4
    random_vector_for_generation = tf.random.normal(shape=[num_examples_to_generate, latent_dim])
    model = CVAE(latent_dim)
    def generate_and_save_images(model, epoch, test_sample):
      mean, logvar = model.encode(test_sample)
      z = model.reparameterize(mean, logvar)
      predictions = model.sample(z)
      return predictions
    test_sample = train_images[:num_examples_to_generate]
    p = generate_and_save_images(model, 0, test_sample)
    print(p.shape, p[0, :, :, 0].shape)
    elbos = []
    for epoch in range(1, 4):
      for train_x in train_dataset:
        train_step(model, train_x, optimizer)
      loss = tf.keras.metrics.Mean()
      for test_x in train_dataset:
        loss(compute_loss(model, test_x))
      elbo = -loss.result()
      elbos.append(float(elbo))
      print('Epoch: {}, Test set ELBO: {}'.format(epoch, elbo))
    print(model.sample().shape)

    assert p.shape == (num_examples_to_generate, 28, 28, 1)
    assert elbos[-1] > elbos[0]
    s = model.sample().numpy()
    assert s.shape == (100, 28, 28, 1) and s.min() >= 0 and s.max() <= 1
    # log_normal_pdf against the closed form
    xs, mu, lv = np.float32([[0.3, -1.0]]), np.float32([[0.1, 0.2]]), np.float32([[0.5, -0.4]])
    want = np.sum(-0.5 * ((xs - mu) ** 2 * np.exp(-lv) + lv + np.log(2 * np.pi)), axis=1)
    np.testing.assert_allclose(log_normal_pdf(xs, mu, lv).numpy(), want, rtol=1e-5)


def test_image_segmentation_unet():
    rng=np.random.default_rng(0)
    N=8
    imgs = rng.uniform(0,255,(N,40,40,3)).astype("float32")
    masks = (imgs[..., :1] > 127).astype("uint8") + 1  # labels {1,2}; learnable per pixel from the image
    ds = tf.data.Dataset.from_tensor_slices({"image": imgs, "segmentation_mask": masks})
    def normalize(input_image, input_mask):
      input_image = tf.cast(input_image, tf.float32) / 255.0
      input_mask -= 1
      return input_image, input_mask
    def load_image(datapoint):
      input_image = tf.image.resize(datapoint['image'], (64, 64))
      input_mask = tf.image.resize(datapoint['segmentation_mask'], (64, 64), method = tf.image.ResizeMethod.NEAREST_NEIGHBOR)
      input_image, input_mask = normalize(input_image, input_mask)
      return input_image, input_mask
    BATCH_SIZE=4; BUFFER_SIZE=100
    train_images = ds.map(load_image, num_parallel_calls=tf.data.AUTOTUNE)
    class Augment(tf.keras.layers.Layer):
      def __init__(self, seed=42):
        super().__init__()
        self.augment_inputs = tf.keras.layers.RandomFlip(mode="horizontal", seed=seed)
        self.augment_labels = tf.keras.layers.RandomFlip(mode="horizontal", seed=seed)
      def call(self, inputs, labels):
        inputs = self.augment_inputs(inputs)
        labels = self.augment_labels(labels)
        return inputs, labels
    train_batches = (train_images.cache().shuffle(BUFFER_SIZE).batch(BATCH_SIZE).repeat().map(Augment()).prefetch(buffer_size=tf.data.AUTOTUNE))
    test_batches = train_images.batch(BATCH_SIZE)
    for images, masks_b in train_batches.take(1):
      print(images.shape, masks_b.shape, masks_b.dtype)
      # the same flip on image and mask
      m = masks_b.numpy(); im = images.numpy()
      agree = ((im[..., 0] > 0.5) + 0 == m[..., 0]).mean()
    base_model = tf.keras.applications.MobileNetV2(input_shape=[64, 64, 3], include_top=False, weights=None)
    layer_names = ['block_1_expand_relu','block_3_expand_relu','block_6_expand_relu','block_13_expand_relu','block_16_project']
    base_model_outputs = [base_model.get_layer(name).output for name in layer_names]
    down_stack = tf.keras.Model(inputs=base_model.input, outputs=base_model_outputs)
    down_stack.trainable = False
    def upsample(filters, size, apply_dropout=False):
      initializer = tf.random_normal_initializer(0., 0.02)
      result = tf.keras.Sequential()
      result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding='same', kernel_initializer=initializer, use_bias=False))
      result.add(tf.keras.layers.BatchNormalization())
      if apply_dropout:
          result.add(tf.keras.layers.Dropout(0.5))
      result.add(tf.keras.layers.ReLU())
      return result
    up_stack = [upsample(64, 3), upsample(32, 3), upsample(16, 3), upsample(8, 3, apply_dropout=True)]
    def unet_model(output_channels:int):
      inputs = tf.keras.layers.Input(shape=[64, 64, 3])
      skips = down_stack(inputs)
      x = skips[-1]
      skips = reversed(skips[:-1])
      for up, skip in zip(up_stack, skips):
        x = up(x)
        concat = tf.keras.layers.Concatenate()
        x = concat([x, skip])
      last = tf.keras.layers.Conv2DTranspose(filters=output_channels, kernel_size=3, strides=2, padding='same')
      x = last(x)
      return tf.keras.Model(inputs=inputs, outputs=x)
    OUTPUT_CLASSES = 3
    model = unet_model(output_channels=OUTPUT_CLASSES)
    model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    print(model.output_shape)
    def create_mask(pred_mask):
      pred_mask = tf.math.argmax(pred_mask, axis=-1)
      pred_mask = pred_mask[..., tf.newaxis]
      return pred_mask[0]
    print(create_mask(model.predict(images[tf.newaxis, 0] if False else images[:1])).shape)
    model_history = model.fit(train_batches, epochs=2, steps_per_epoch=2, validation_steps=1, validation_data=test_batches)
    print(model_history.history['loss'], model_history.history['val_loss'])
    def add_sample_weights(image, label):
      class_weights = tf.constant([2.0, 2.0, 1.0])
      class_weights = class_weights/tf.reduce_sum(class_weights)
      sample_weights = tf.gather(class_weights, indices=tf.cast(label, tf.int32))
      return image, label, sample_weights
    print(train_batches.map(add_sample_weights).element_spec)
    weighted_model = unet_model(OUTPUT_CLASSES)
    weighted_model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    h = weighted_model.fit(train_batches.map(add_sample_weights), epochs=1, steps_per_epoch=2)
    print(h.history)

    assert images.shape == (4, 64, 64, 3) and masks_b.shape == (4, 64, 64, 1)
    assert agree > 0.8  # Augment flips the image and its mask together (same seed)
    assert [o.shape[1] for o in base_model_outputs] == [32, 16, 8, 4, 2]
    assert model.output_shape == (None, 64, 64, 3)
    assert create_mask(model.predict(images[:1], verbose=0)).shape == (64, 64, 1)
    assert np.isfinite(h.history["loss"][0])


def test_intro_to_autoencoders():
    from nabi.keras import layers, losses
    from nabi.keras.models import Model
    rng=np.random.default_rng(0)
    x_train = rng.uniform(size=(16,28,28)).astype('float32')[..., tf.newaxis]
    noise_factor = 0.2
    x_train_noisy = x_train + noise_factor * tf.random.normal(shape=x_train.shape)
    x_train_noisy = tf.clip_by_value(x_train_noisy, clip_value_min=0., clip_value_max=1.)
    print(x_train_noisy.shape, float(tf.reduce_min(x_train_noisy)), float(tf.reduce_max(x_train_noisy)))
    class Denoise(Model):
      def __init__(self):
        super(Denoise, self).__init__()
        self.encoder = tf.keras.Sequential([
          layers.Input(shape=(28, 28, 1)),
          layers.Conv2D(16, (3, 3), activation='relu', padding='same', strides=2),
          layers.Conv2D(8, (3, 3), activation='relu', padding='same', strides=2)])
        self.decoder = tf.keras.Sequential([
          layers.Conv2DTranspose(8, kernel_size=3, strides=2, activation='relu', padding='same'),
          layers.Conv2DTranspose(16, kernel_size=3, strides=2, activation='relu', padding='same'),
          layers.Conv2D(1, kernel_size=(3, 3), activation='sigmoid', padding='same')])
      def call(self, x):
        encoded = self.encoder(x)
        decoded = self.decoder(encoded)
        return decoded
    autoencoder = Denoise()
    autoencoder.compile(optimizer='adam', loss=losses.MeanSquaredError())
    h = autoencoder.fit(x_train_noisy, x_train, epochs=3, shuffle=True, validation_data=(x_train_noisy, x_train), verbose=0)
    print(h.history['loss'])
    autoencoder.encoder.summary()
    encoded_imgs = autoencoder.encoder(x_train_noisy).numpy()
    decoded_imgs = autoencoder.decoder(encoded_imgs).numpy()
    print(encoded_imgs.shape, decoded_imgs.shape)
    # anomaly detection
    raw = rng.normal(size=(40, 140)).astype('float32'); labels = (np.arange(40) % 2 == 0)
    raw[labels] = np.sin(np.linspace(0, 6, 140))[None] + 0.1*raw[labels]
    min_val = tf.reduce_min(raw); max_val = tf.reduce_max(raw)
    train_data = (raw - min_val) / (max_val - min_val)
    train_data = tf.cast(train_data, tf.float32)
    normal_train_data = train_data[labels]
    anomalous_train_data = train_data[~labels]
    class AnomalyDetector(Model):
      def __init__(self):
        super(AnomalyDetector, self).__init__()
        self.encoder = tf.keras.Sequential([layers.Dense(32, activation="relu"), layers.Dense(16, activation="relu"), layers.Dense(8, activation="relu")])
        self.decoder = tf.keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(32, activation="relu"), layers.Dense(140, activation="sigmoid")])
      def call(self, x):
        encoded = self.encoder(x)
        decoded = self.decoder(encoded)
        return decoded
    autoencoder = AnomalyDetector()
    autoencoder.compile(optimizer='adam', loss='mae')
    history = autoencoder.fit(normal_train_data, normal_train_data, epochs=20, batch_size=8, validation_data=(train_data, train_data), shuffle=True, verbose=0)
    print(history.history["loss"][0], history.history["loss"][-1], history.history["val_loss"][-1])
    reconstructions = autoencoder.predict(normal_train_data, verbose=0)
    train_loss = tf.keras.losses.mae(reconstructions, normal_train_data)
    threshold = np.mean(train_loss) + np.std(train_loss)
    print("Threshold: ", threshold, train_loss.shape)
    def predict(model, data, threshold):
      reconstructions = model(data)
      loss = tf.keras.losses.mae(reconstructions, data)
      return tf.math.less(loss, threshold)
    preds = predict(autoencoder, train_data, threshold)
    accuracy = np.mean(preds.numpy() == labels)

    assert 0 <= float(tf.reduce_min(x_train_noisy)) and float(tf.reduce_max(x_train_noisy)) <= 1
    assert encoded_imgs.shape == (16, 7, 7, 8) and decoded_imgs.shape == (16, 28, 28, 1)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(train_loss.numpy(),
                               np.mean(np.abs(reconstructions - normal_train_data.numpy()), -1),
                               rtol=1e-5)
    assert preds.dtype == tf.bool and accuracy > 0.8


def test_neural_style_transfer():
    rng=np.random.default_rng(0)
    content_image = tf.constant(rng.uniform(size=(1,32,32,3)).astype('float32'))
    style_image = tf.constant(rng.uniform(size=(1,32,32,3)).astype('float32'))
    content_layers = ['block5_conv2']
    style_layers = ['block1_conv1','block2_conv1','block3_conv1', 'block4_conv1', 'block5_conv1']
    num_content_layers = len(content_layers); num_style_layers = len(style_layers)
    def vgg_layers(layer_names):
      vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
      vgg.trainable = False
      outputs = [vgg.get_layer(name).output for name in layer_names]
      model = tf.keras.Model([vgg.input], outputs)
      return model
    style_extractor = vgg_layers(style_layers)
    style_outputs = style_extractor(style_image*255)
    for name, output in zip(style_layers, style_outputs):
      print(name, output.numpy().shape, output.numpy().min(), output.numpy().max(), output.numpy().mean())
    def gram_matrix(input_tensor):
      result = tf.linalg.einsum('bijc,bijd->bcd', input_tensor, input_tensor)
      input_shape = tf.shape(input_tensor)
      num_locations = tf.cast(input_shape[1]*input_shape[2], tf.float32)
      return result/(num_locations)
    class StyleContentModel(tf.keras.models.Model):
      def __init__(self, style_layers, content_layers):
        super(StyleContentModel, self).__init__()
        self.vgg = vgg_layers(style_layers + content_layers)
        self.style_layers = style_layers
        self.content_layers = content_layers
        self.num_style_layers = len(style_layers)
        self.vgg.trainable = False
      def call(self, inputs):
        inputs = inputs*255.0
        preprocessed_input = tf.keras.applications.vgg19.preprocess_input(inputs)
        outputs = self.vgg(preprocessed_input)
        style_outputs, content_outputs = (outputs[:self.num_style_layers], outputs[self.num_style_layers:])
        style_outputs = [gram_matrix(style_output) for style_output in style_outputs]
        content_dict = {content_name: value for content_name, value in zip(self.content_layers, content_outputs)}
        style_dict = {style_name: value for style_name, value in zip(self.style_layers, style_outputs)}
        return {'content': content_dict, 'style': style_dict}
    extractor = StyleContentModel(style_layers, content_layers)
    results = extractor(tf.constant(content_image))
    for name, output in sorted(results['style'].items()):
        print(name, output.numpy().shape)
    style_targets = extractor(style_image)['style']
    content_targets = extractor(content_image)['content']
    image = tf.Variable(content_image)
    def clip_0_1(image):
      return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)
    opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
    style_weight=1e-2; content_weight=1e4
    def style_content_loss(outputs):
        style_outputs = outputs['style']
        content_outputs = outputs['content']
        style_loss = tf.add_n([tf.reduce_mean((style_outputs[name]-style_targets[name])**2) for name in style_outputs.keys()])
        style_loss *= style_weight / num_style_layers
        content_loss = tf.add_n([tf.reduce_mean((content_outputs[name]-content_targets[name])**2) for name in content_outputs.keys()])
        content_loss *= content_weight / num_content_layers
        loss = style_loss + content_loss
        return loss
    total_variation_weight=30
    @tf.function()
    def train_step(image):
      with tf.GradientTape() as tape:
        outputs = extractor(image)
        loss = style_content_loss(outputs)
        loss += total_variation_weight*tf.image.total_variation(image)
      grad = tape.gradient(loss, image)
      opt.apply_gradients([(grad, image)])
      image.assign(clip_0_1(image))
      return loss
    losses=[]
    for _ in range(4):
      losses.append(float(tf.reduce_sum(train_step(image))))
    print(losses)
    def high_pass_x_y(image):
      x_var = image[:, :, 1:, :] - image[:, :, :-1, :]
      y_var = image[:, 1:, :, :] - image[:, :-1, :, :]
      return x_var, y_var
    x_deltas, y_deltas = high_pass_x_y(content_image)
    def total_variation_loss(image):
      x_deltas, y_deltas = high_pass_x_y(image)
      return tf.reduce_sum(tf.abs(x_deltas)) + tf.reduce_sum(tf.abs(y_deltas))
    print(float(total_variation_loss(image)), tf.image.total_variation(image).numpy())

    assert [tuple(results["style"][n].shape) for n in style_layers] == \
        [(1, c, c) for c in (64, 128, 256, 512, 512)]
    f = style_outputs[0].numpy()[0].reshape(-1, 64)
    np.testing.assert_allclose(gram_matrix(style_outputs[0]).numpy()[0], f.T @ f / f.shape[0],
                               rtol=1e-4, atol=1e-2)
    assert losses[-1] < losses[0]
    assert float(tf.reduce_min(image)) >= 0 and float(tf.reduce_max(image)) <= 1
    np.testing.assert_allclose(tf.image.total_variation(image).numpy()[0],
                               float(total_variation_loss(image)), rtol=1e-5)


# -- regressions for the gaps these tutorials found --------------------------------------

def test_sequential_takes_input_shape_from_nested_first_model():
    # Keras 2: a first layer that is a Sequential/functional model with a known input builds
    # the outer Sequential at once (image classification: model.summary() before fit).
    inner = keras.Sequential([layers.RandomFlip("horizontal", input_shape=(8, 8, 3))])
    outer = keras.Sequential([inner, layers.Flatten(), layers.Dense(2)])
    assert outer.built and outer.input_shape == (None, 8, 8, 3)
    assert outer.output_shape == (None, 2)
    fn = keras.Model(*(lambda i: (i, layers.Dense(3)(i)))(keras.Input((5,))))
    assert keras.Sequential([fn, layers.Dense(1)]).output_shape == (None, 1)
    assert not keras.Sequential([keras.Sequential([layers.Dense(2)])]).built


def test_dataset_counter_and_generator_make_seeds():
    c = tf.data.experimental.Counter()
    assert [int(v) for v in c.take(3)] == [0, 1, 2]
    assert int(tf.data.experimental.cardinality(c)) == tf.data.INFINITE_CARDINALITY
    c = tf.data.Dataset.counter(start=5, step=-2, dtype=tf.int32)
    assert [int(v) for v in c.take(3)] == [5, 3, 1] and c.element_spec.dtype == tf.int32
    z = tf.data.Dataset.zip((tf.data.Dataset.range(4), (c, c)))
    assert len(list(z)) == 4
    g = tf.random.Generator.from_seed(1)
    s = g.make_seeds(3)
    assert s.shape == (2, 3) and s.dtype == tf.int64
    assert not np.array_equal(s.numpy(), g.make_seeds(3).numpy())  # the generator advances
    g2 = tf.random.Generator.from_seed(1)
    np.testing.assert_array_equal(g2.make_seeds(3).numpy(), s.numpy())


def test_fit_per_pixel_sample_weight():
    # Keras 2 broadcasts a (N, H, W, 1) sample_weight over the (N, H, W) loss values and
    # averages over all of them (segmentation tutorial, add_sample_weights).
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3, 3, 2)).astype("float32")
    y = rng.integers(0, 2, (4, 3, 3, 1))
    sw = rng.uniform(0.1, 2, (4, 3, 3, 1)).astype("float32")
    model = keras.Sequential([layers.Dense(2, input_shape=(3, 3, 2))])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logits = model.predict(x, verbose=0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ce = -np.log(np.take_along_axis(p, y, -1))[..., 0]
    want = np.mean(ce * sw[..., 0])
    got = model.evaluate(tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(4), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0),
                               want, rtol=1e-5)
    h = model.fit(x, y, sample_weight=sw, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
